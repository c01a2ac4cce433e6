//! Any bytes as a domain command, parsed as the server parses one (`DomainCommand`, by its `type`)
//! and decided and applied on the state of the channel it belongs to, as an organiser, a participant
//! and a display: no panic, and a refused command changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makeroom_protocol::{DomainCommand, Role};
use makeroom_server::domain::announcements::Announcements;
use makeroom_server::domain::board::Board;
use makeroom_server::domain::brief::Briefs;
use makeroom_server::domain::help::HelpQueue;
use makeroom_server::domain::outputs::{Outputs, OutputsCommand};
use makeroom_server::domain::presentations::Presentations;
use makeroom_server::domain::roster::{Name, Roster};
use makeroom_server::domain::schedule::Schedule;
use makeroom_server::domain::{Actor, Context, Domain, Recorded};

fn poke<D: Domain + PartialEq>(state: &mut D, command: D::Command)
where
    D::Command: Clone,
{
    let is_participant = |id: &str| id.starts_with('p');
    let is_brief = |id: &str| id.starts_with('b');
    let is_team = |id: &str| id == "t1" || id == "t2";
    let mut next = 0;
    for actor in [
        Actor { id: "o1", role: Role::Organiser, team: None },
        Actor { id: "p1", role: Role::Participant, team: Some("t1") },
        Actor { id: "d1", role: Role::Display, team: None },
    ] {
        let mut fresh_id = |prefix: &str| {
            next += 1;
            format!("{prefix}{next}")
        };
        let mut context = Context {
            actor,
            is_participant: &is_participant,
            is_brief: &is_brief,
            is_team: &is_team,
            fresh_id: &mut fresh_id,
        };
        let before = state.clone();
        match state.decide(command.clone(), &mut context) {
            Ok(event) => state.apply(&event, Recorded { offset: 1, ts: 0, by: actor.id }),
            Err(_) => assert!(*state == before, "a refused command changed the state"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(command) = serde_json::from_str::<DomainCommand>(text) else { return };
    match command {
        DomainCommand::Roster(command) => {
            if let Ok(name) = Name::try_from("Weekend".to_string()) {
                poke(&mut Roster::new(name), command);
            }
        }
        DomainCommand::Announcement(command) => poke(&mut Announcements::default(), command),
        DomainCommand::Brief(command) => poke(&mut Briefs::default(), command),
        DomainCommand::Board(command) => poke(&mut Board::new("t1"), command),
        DomainCommand::Schedule(command) => poke(&mut Schedule::default(), command),
        DomainCommand::Presentation(command) => poke(&mut Presentations::default(), command),
        DomainCommand::Help(command) => poke(&mut HelpQueue::default(), command),
        DomainCommand::Output(command) => poke(&mut Outputs::default(), OutputsCommand::Save(command)),
    }
});
