//! The demo event a new user sees on first start, modelled on Lambeth's first Good for Nothing
//! weekend ("Made in Lambeth"): three briefs from council services, a team around each with the skills
//! it needs, boards with the first cards on them, the weekend's schedule, the show-and-tell running
//! order and a pinned welcome. Everything goes through the same commands a
//! person would send, so the demo is also a smoke test of the rules.

use crate::clock::now_millis;
use crate::service::directory::{EventDirectory, EventEntry, system_sender};
use anyhow::Context;
use makeroom_protocol::announcements::{AnnouncementCommand, Priority};
use makeroom_protocol::board::BoardCommand;
use makeroom_protocol::brief::{BriefCommand, BriefEvent};
use makeroom_protocol::presentations::PresentationCommand;
use makeroom_protocol::roster::{Name, RosterCommand};
use makeroom_protocol::schedule::ScheduleCommand;
use std::sync::Arc;

struct DemoBrief {
    title: &'static str,
    partner: &'static str,
    body: &'static str,
    team: &'static str,
    needs: &'static [&'static str],
    cards: &'static [(&'static str, &'static str)],
}

const BRIEFS: &[DemoBrief] = &[
    DemoBrief {
        title: "A co-operative council website",
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

/// Creates the demo event with its briefs, teams and boards.
pub async fn create_demo_event(events: &EventDirectory) -> anyhow::Result<Arc<EventEntry>> {
    let event = events.create_event(Name::try_from("Made in Lambeth (demo)".to_string())?).await?;
    let store = events.store();
    let host = system_sender();
    let hour = 3600 * 1000;
    let starts_at = now_millis() - 2 * hour;
    let update = RosterCommand::UpdateEvent {
        name: None,
        starts_at: Some(starts_at),
        ends_at: Some(starts_at + 48 * hour),
        time_zone: None,
    };
    event.command(store, &event.roster, &host, update, None).await?;
    let mut teams = Vec::new();
    for demo in BRIEFS {
        let create = BriefCommand::Create {
            title: demo.title.into(),
            body: demo.body.into(),
            partner: demo.partner.into(),
            owner: None,
        };
        let brief = match event.command(store, &event.briefs, &host, create, None).await?.event {
            Some(BriefEvent::Created { brief }) => brief.id,
            _ => anyhow::bail!("creating a demo brief recorded something else"),
        };
        let needs = demo.needs.iter().map(|s| s.to_string()).collect();
        let team = events.create_team(&event, demo.team, Some(brief), needs).await?;
        let board = event.board(store, &team).await?;
        for (column, title) in demo.cards {
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

    // Friday evening briefs, two days of making, show and tell at the end.
    let phases = [
        ("Briefs and team forming", 0, 2),
        ("Making", 2, 26),
        ("Lunch", 26, 27),
        ("Making, day two", 27, 44),
        ("Show and tell", 44, 47),
        ("Wrap-up and what happens next", 47, 48),
    ];
    for (title, from, to) in phases {
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
        text: "Welcome to Made in Lambeth! Wi-Fi: MadeInLambeth / makers2026. Show and tell is on Sunday at 4pm."
            .into(),
        priority: Priority::Normal,
        pinned: true,
    };
    event.command(store, &event.announcements, &host, welcome, None).await?;
    Ok(event)
}
