//! The demo event a new user sees on first start. In English it is modelled on Lambeth's first Good
//! for Nothing weekend ("Made in Lambeth"); in Welsh (`--demo-language cy`) on a Co-production Wales
//! network day in Chepstow, with environment and sustainability groups from Monmouthshire and Torfaen,
//! run in Welsh with Welsh and English names. Each has three briefs, a team around each with the
//! skills it needs, boards with the first cards on them, the schedule, the show-and-tell running order
//! and a pinned welcome. Everything goes through the same commands a person would send, so the demo
//! is also a smoke test of the rules.

use crate::clock::now_millis;
use crate::service::directory::{EventDirectory, EventEntry, system_sender};
use anyhow::Context;
use makeroom_protocol::announcements::{AnnouncementCommand, Priority};
use makeroom_protocol::board::BoardCommand;
use makeroom_protocol::brief::{BriefCommand, BriefEvent};
use makeroom_protocol::presentations::PresentationCommand;
use makeroom_protocol::roster::{Language, Name, RosterCommand};
use makeroom_protocol::schedule::ScheduleCommand;
use std::sync::Arc;

struct DemoBrief {
    title: &'static str,
    title_cy: Option<&'static str>,
    partner: &'static str,
    body: &'static str,
    team: &'static str,
    needs: &'static [&'static str],
    cards: &'static [(&'static str, &'static str)],
}

/// One demo event: its names, briefs, phases (title, from hour, to hour) and pinned welcome.
struct DemoEvent {
    name: &'static str,
    name_cy: Option<&'static str>,
    language: Language,
    briefs: &'static [DemoBrief],
    phases: &'static [(&'static str, i64, i64)],
    welcome: &'static str,
    welcome_cy: Option<&'static str>,
}

const LAMBETH: DemoEvent = DemoEvent {
    name: "Made in Lambeth (demo)",
    name_cy: None,
    language: Language::En,
    briefs: LAMBETH_BRIEFS,
    // Friday evening briefs, two days of making, show and tell at the end.
    phases: &[
        ("Briefs and team forming", 0, 2),
        ("Making", 2, 26),
        ("Lunch", 26, 27),
        ("Making, day two", 27, 44),
        ("Show and tell", 44, 47),
        ("Wrap-up and what happens next", 47, 48),
    ],
    welcome: "Welcome to Made in Lambeth! Wi-Fi: MadeInLambeth / makers2026. Show and tell is on Sunday at 4pm.",
    welcome_cy: None,
};

const LAMBETH_BRIEFS: &[DemoBrief] = &[
    DemoBrief {
        title: "A co-operative council website",
        title_cy: None,
        partner: "Lambeth Council, Digital",
        body: "## The challenge\n\nLambeth wants to be a co-operative council, but its website is built \
               around the council's departments, not around residents' lives. How might residents and \
               officers make the new website together, and keep improving it after launch?\n\n\
               ## What good looks like\n\n- Content written with residents, in their words\n\
               - Open source, so other councils can reuse it\n- A way for anyone to suggest a change\n",
        team: "Co-operative council website",
        needs: &["Developer", "Content design", "User research", "Accessibility"],
        cards: &[
            ("todo", "Interview five residents about the last service they looked for"),
            ("todo", "Map the top 20 tasks people come to the site for"),
            ("doing", "Prototype the home page around tasks, not departments"),
            ("done", "Set up the open source repository"),
        ],
    },
    DemoBrief {
        title: "Set up Healthwatch Lambeth",
        title_cy: None,
        partner: "Lambeth Council, Adult Social Care",
        body: "## The challenge\n\nHealthwatch will be the independent consumer champion for people who use \
               health and social care in Lambeth. How might it be co-produced with the people it speaks \
               for, rather than designed for them?\n\n## Constraints\n\n- The design goes to cabinet in \
               September\n- It must reach people who never fill in consultations\n",
        team: "Healthwatch Lambeth",
        needs: &["Service design", "Facilitation", "Copywriting"],
        cards: &[
            ("todo", "List who is never heard in consultations"),
            ("doing", "Draft the cabinet paper's co-production section"),
            ("todo", "Storyboard one person's journey through a complaint"),
        ],
    },
    DemoBrief {
        title: "Love Your Space",
        title_cy: None,
        partner: "Lambeth Council, Public Realm",
        body: "## The challenge\n\nThe larger parks are well used; the small, unloved spaces around estates \
               are not. How might residents find these spaces and bring them back into use themselves, \
               with the council enabling rather than leading?\n\n## Ideas to start from\n\n- A way to \
               point out an unloved space\n- Stories of spaces already brought back to life\n",
        team: "Love Your Space",
        needs: &["Photography", "Campaigns", "Developer", "Local knowledge"],
        cards: &[
            ("todo", "Walk the Tulse Hill estate and photograph three spaces"),
            ("todo", "Name the campaign and write its one-line pitch"),
            ("done", "Agree the campaign's first weekend with Public Realm"),
        ],
    },
];

/// The Welsh demo: a network day's groups from Monmouthshire and Torfaen turn their co-productive
/// work into briefs. The event is run in Welsh; names and the welcome are in both languages, the
/// briefs' text, the teams, cards and phases in Welsh.
const CHEPSTOW: DemoEvent = DemoEvent {
    name: "Co-production Network Day, Chepstow (demo)",
    name_cy: Some("Diwrnod y Rhwydwaith Cydgynhyrchu, Cas-gwent (demo)"),
    language: Language::Cy,
    briefs: CHEPSTOW_BRIEFS,
    phases: &[
        ("Croeso, briffiau a ffurfio timau", 0, 2),
        ("Creu", 2, 26),
        ("Cinio", 26, 27),
        ("Creu, diwrnod dau", 27, 44),
        ("Dangos a dweud", 44, 47),
        ("Cloi a'r camau nesaf", 47, 48),
    ],
    welcome: "Welcome to the Co-production Network Day! Wi-Fi: CasGwent / rhwydwaith2026. Show and tell is on Sunday at 4pm.",
    welcome_cy: Some(
        "Croeso i Ddiwrnod y Rhwydwaith Cydgynhyrchu! Wi-Fi: CasGwent / rhwydwaith2026. Mae'r dangos a dweud ddydd Sul am 4pm.",
    ),
};

const CHEPSTOW_BRIEFS: &[DemoBrief] = &[
    DemoBrief {
        title: "A repair café in every town",
        title_cy: Some("Caffi trwsio ym mhob tref"),
        partner: "Cyngor Sir Fynwy, Cynaliadwyedd",
        body: "## Yr her\n\nMae caffis trwsio gwirfoddol yn Sir Fynwy yn cadw cannoedd o bethau rhag mynd i'r \
               domen bob blwyddyn, ond dim ond mewn dwy dref maen nhw'n cwrdd. Sut gallai'r gwirfoddolwyr, \
               y cyngor a'r bobl sy'n dod â'u pethau i'w trwsio redeg caffi ym mhob tref, gyda'i gilydd?\n\n\
               ## Sut olwg sydd ar lwyddiant\n\n- Y gwirfoddolwyr sy'n penderfynu, nid y cyngor\n\
               - Lle i ddysgu trwsio, nid dim ond i gael trwsio\n- Gwybodaeth yn Gymraeg ac yn Saesneg\n",
        team: "Caffis Trwsio",
        needs: &["Trwsio", "Trefnu digwyddiadau", "Cyfathrebu", "Cymraeg"],
        cards: &[
            ("todo", "Siarad â gwirfoddolwyr caffi trwsio Cas-gwent"),
            ("todo", "Rhestru neuaddau cymunedol sydd ar gael ar ddydd Sadwrn"),
            ("doing", "Llunio poster dwyieithog i'r caffi cyntaf"),
            ("done", "Cytuno ar y dref gyntaf gyda'r cyngor"),
        ],
    },
    DemoBrief {
        title: "A map of community food growing",
        title_cy: Some("Map o dyfu bwyd yn y gymuned"),
        partner: "Cyngor Bwrdeistref Sirol Torfaen",
        body: "## Yr her\n\nMae rhandiroedd, gerddi cymunedol a pherllannau bach ar hyd a lled Torfaen, ond prin \
               fod neb yn gwybod amdanyn nhw i gyd. Sut gallai'r tyfwyr eu hunain roi eu lleoedd ar fap, a'i \
               gadw'n gyfredol, heb i'r cyngor fod yn berchen arno?\n\n## Cyfyngiadau\n\n\
               - Rhaid iddo weithio ar ffôn, yn yr awyr agored\n- Y tyfwyr sy'n dewis beth sy'n gyhoeddus\n",
        team: "Map Tyfu Bwyd",
        needs: &["Datblygwr", "Mapio", "Ymchwil defnyddwyr", "Ffotograffiaeth"],
        cards: &[
            ("todo", "Ymweld â gardd gymunedol Pont-y-pŵl a holi'r tyfwyr"),
            ("doing", "Braslunio sut mae tyfwr yn ychwanegu ei le at y map"),
            ("todo", "Dewis pa wybodaeth sy'n breifat"),
        ],
    },
    DemoBrief {
        title: "Who holds the power? Co-production, not consultation",
        title_cy: Some("Pwy sydd â'r grym? Cydgynhyrchu, nid ymgynghori"),
        partner: "Cydgynhyrchu Cymru",
        body: "## Yr her\n\nEin nod yw cyfiawnder cymdeithasol, a symud grym yn barhaol o'r wladwriaeth at \
               ddinasyddion. Sut gallai grŵp neu gyngor ddweud yn onest a yw'n cydgynhyrchu ai peidio, fel na \
               chaiff y gair ei wanhau gan gamddefnydd?\n\n## Syniadau i ddechrau\n\n\
               - Prawf syml o bum cwestiwn\n- Straeon gan grwpiau yn Sir Fynwy a Thorfaen\n",
        team: "Grym i Ddinasyddion",
        needs: &["Hwyluso", "Ysgrifennu", "Dylunio gwasanaethau"],
        cards: &[
            ("todo", "Casglu tair stori gan grwpiau'r rhwydwaith"),
            ("doing", "Drafftio'r pum cwestiwn"),
            ("done", "Darllen egwyddorion cydgynhyrchu'r rhwydwaith gyda'n gilydd"),
        ],
    },
];

/// Creates the demo event in `language`, with its briefs, teams and boards.
pub async fn create_demo_event(events: &EventDirectory, language: Language) -> anyhow::Result<Arc<EventEntry>> {
    let demo = match language {
        Language::En => &LAMBETH,
        Language::Cy => &CHEPSTOW,
    };
    let event = events.create_event(Name::try_from(demo.name.to_string())?).await?;
    let store = events.store();
    let host = system_sender();
    let hour = 3600 * 1000;
    let starts_at = now_millis() - 2 * hour;
    let update = RosterCommand::UpdateEvent {
        name: None,
        name_cy: demo.name_cy.map(str::to_string),
        language: Some(demo.language),
        bilingual_order: None,
        starts_at: Some(starts_at),
        ends_at: Some(starts_at + 48 * hour),
        time_zone: None,
    };
    event.command(store, &event.roster, &host, update, None).await?;
    let mut teams = Vec::new();
    for brief in demo.briefs {
        let create = BriefCommand::Create {
            title: brief.title.into(),
            title_cy: brief.title_cy.map(str::to_string),
            body: brief.body.into(),
            partner: brief.partner.into(),
            owner: None,
        };
        let id = match event.command(store, &event.briefs, &host, create, None).await?.event {
            Some(BriefEvent::Created { brief }) => brief.id,
            _ => anyhow::bail!("creating a demo brief recorded something else"),
        };
        let needs = brief.needs.iter().map(|s| s.to_string()).collect();
        let team = events.create_team(&event, brief.team, Some(id), needs).await?;
        let board = event.board(store, &team).await?;
        for (column, title) in brief.cards {
            let add = BoardCommand::AddCard {
                column: Some(column.to_string()),
                title: title.to_string(),
                notes: String::new(),
                assignee: None,
            };
            event.command(store, &board, &host, add, None).await.context("adding a demo card")?;
        }
        teams.push(team);
    }

    for &(title, from, to) in demo.phases {
        let add = ScheduleCommand::Add {
            title: title.into(),
            starts_at: starts_at + from * hour,
            ends_at: starts_at + to * hour,
        };
        event.command(store, &event.schedule, &host, add, None).await?;
    }
    let order = PresentationCommand::Order { teams };
    event.command(store, &event.presentations, &host, order, None).await?;
    let welcome = AnnouncementCommand::Post {
        text: demo.welcome.into(),
        text_cy: demo.welcome_cy.map(str::to_string),
        priority: Priority::Normal,
        pinned: true,
    };
    event.command(store, &event.announcements, &host, welcome, None).await?;
    Ok(event)
}
