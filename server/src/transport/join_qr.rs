//! The join link as a QR code, drawn as SVG: black modules on white with the standard quiet zone of
//! four modules, so that a phone finds it on the projector's black page and on paper. It scales
//! without blur (a `viewBox`, crisp edges); the pages size it. Never draws anything but the link.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Pixels per module at the SVG's own size (pages set their own size).
const MODULE_PIXELS: u32 = 8;

/// The SVG of a QR code holding `link`. Medium error correction: a short link stays a small version
/// (large modules, readable from far), and a smudge or glare on 15 % of the code is still read.
pub fn svg(link: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)?;
    let image = code
        .render::<svg::Color>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PIXELS, MODULE_PIXELS)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_link_is_a_small_code_with_its_quiet_zone() {
        let link = "https://makeroom.example.org/join?code=K7M2QX";
        let image = svg(link).expect("a short link fits");
        let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).expect("fits");
        // Small enough to read from the back of a hall: version 3 or 4 (29 or 33 modules across).
        assert!(code.width() <= 33, "{} modules", code.width());
        let side = (code.width() as u32 + 8) * MODULE_PIXELS;
        assert!(image.contains(&format!(r#"viewBox="0 0 {side} {side}""#)), "{image}");
        assert!(image.contains(r##"fill="#fff""##) && image.contains(r##"fill="#000""##));
        assert!(image.ends_with("</svg>"));
    }
}
