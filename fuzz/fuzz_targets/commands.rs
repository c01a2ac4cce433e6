//! Any bytes as a domain command, decided and applied on a board, the briefs and the roster: no
//! panic, and a refused command changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makeroom_protocol::Role;
use makeroom_server::domain::board::Board;
use makeroom_server::domain::brief::Briefs;
use makeroom_server::domain::roster::{Name, Roster};
use makeroom_server::domain::{Actor, Context, Domain, Recorded};

fn poke<D: Domain + PartialEq>(state: &mut D, text: &str) {
    let is_participant = |id: &str| id.starts_with('p');
    let is_brief = |id: &str| id.starts_with('b');
    let is_team = |id: &str| id == "t1" || id == "t2";
    let mut next = 0;
    for actor in [
        Actor { id: "o1", role: Role::Organiser, team: None },
        Actor { id: "p1", role: Role::Participant, team: Some("t1") },
        Actor { id: "d1", role: Role::Display, team: None },
    ] {
        let Ok(command) = serde_json::from_str::<D::Command>(text) else { return };
        let mut fresh_id = |prefix: &str| {
            next += 1;
            format!("{prefix}{next}")
        };
        let mut context =
            Context { actor, is_participant: &is_participant, is_brief: &is_brief, is_team: &is_team, fresh_id: &mut fresh_id };
        let before = state.clone();
        match state.decide(command, &mut context) {
            Ok(event) => state.apply(&event, Recorded { offset: 1, ts: 0, by: actor.id }),
            Err(_) => assert!(*state == before, "a refused command changed the state"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    poke(&mut Board::new("t1"), text);
    poke(&mut Briefs::default(), text);
    if let Ok(name) = Name::try_from("Weekend".to_string()) {
        poke(&mut Roster::new(name), text);
    }
});
