//! Random identifiers and join codes. Ids are unguessable; join codes are short and easy to read aloud.

/// Letters and digits that cannot be mistaken for each other when read off a projector (no 0/O, 1/I/L).
const JOIN_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    fill_random(&mut bytes);
    // 256 % 31 and 256 % 36 bias the first letters very slightly; irrelevant for codes and ids.
    bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect()
}

/// Fills a buffer from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) {
    // The OS random source failing means the machine cannot run anything safely.
    getrandom::fill(buf).expect("the operating system's random source is unavailable");
}

/// A new id with a readable prefix, e.g. `p_k3j9x0c2m1qz`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_string(ID_ALPHABET, 12))
}

/// A photo's id, such as `img_…` with 26 random letters and digits (about 134 bits): the id is what
/// lets a page fetch the photo (an `<img>` sends no token), so it must not be guessable.
pub fn new_photo_id() -> String {
    format!("img_{}", random_string(ID_ALPHABET, PHOTO_ID_LETTERS))
}

const PHOTO_ID_LETTERS: usize = 26;

/// Whether `id` has the shape of a photo id (whether a photo has it is another question).
pub fn is_photo_id(id: &str) -> bool {
    id.strip_prefix("img_")
        .is_some_and(|rest| rest.len() == PHOTO_ID_LETTERS && rest.bytes().all(|c| ID_ALPHABET.contains(&c)))
}

/// This process's name for itself, such as `k3j9x0`: the first part of every error reference, so that
/// references stay unique across a cluster's instances and a restarted instance's new connections.
pub fn new_instance_id() -> String {
    random_string(ID_ALPHABET, 6)
}

/// A six-character join code such as `K7M2QX`.
pub fn new_join_code() -> String {
    random_string(JOIN_CODE_ALPHABET, 6)
}

/// Whether `code` has the shape of a join code (whether an event has it is another question).
pub fn is_join_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|c| JOIN_CODE_ALPHABET.contains(&c))
}

/// 32 random bytes as hex: secrets and epochs.
pub fn new_secret_hex() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_codes_use_only_unambiguous_characters() {
        for _ in 0..100 {
            let code = new_join_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|c| JOIN_CODE_ALPHABET.contains(&c)), "{code}");
            assert!(is_join_code(&code), "{code}");
        }
        for not_a_code in ["", "K7M2Q", "K7M2QXX", "k7m2qx", "K7M2Q0", "K7M2Q/", "K7M2QÉ"] {
            assert!(!is_join_code(not_a_code), "{not_a_code}");
        }
    }

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("p");
        assert!(a.starts_with("p_") && a.len() == 14, "{a}");
        assert_ne!(a, new_id("p"));
    }
}
