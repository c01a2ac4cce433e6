//! A team's task board: columns (To do / Doing / Done by default, editable) holding ordered cards.
//!
//! Every phone's command is decided against the board as the server holds it at that moment (a card
//! deleted meanwhile is `NotFound`, an index past the end is clamped), and the board's log gives all
//! changes one order. `apply` is deterministic, so every screen that applies the log converges on the
//! same board; the property test below checks that with random concurrent phones.

use super::{Context, Domain, DomainError, Recorded, text};
pub use makeroom_protocol::board::{BoardCommand, BoardEvent, Card, Column};
use serde::Serialize;

pub const MAX_COLUMNS: usize = 12;
pub const MAX_CARDS: usize = 500;
pub const MAX_CARD_TITLE_CHARS: usize = 140;
pub const MAX_NOTES_CHARS: usize = 4000;
pub const MAX_COLUMN_TITLE_CHARS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    pub team: String,
    pub columns: Vec<Column>,
}

impl Board {
    /// A new team's board: To do, Doing, Done.
    pub fn new(team: &str) -> Self {
        let column = |id: &str, title: &str| Column { id: id.into(), title: title.into(), cards: Vec::new() };
        Board {
            team: team.to_string(),
            columns: vec![column("todo", "To do"), column("doing", "Doing"), column("done", "Done")],
        }
    }

    fn column(&self, id: &str) -> Result<&Column, DomainError> {
        self.columns.iter().find(|c| c.id == id).ok_or_else(|| DomainError::NotFound(format!("column `{id}`")))
    }

    fn card(&self, id: &str) -> Result<&Card, DomainError> {
        self.cards().find(|c| c.id == id).ok_or_else(|| DomainError::NotFound(format!("card `{id}`")))
    }

    pub fn cards(&self) -> impl Iterator<Item = &Card> {
        self.columns.iter().flat_map(|c| c.cards.iter())
    }

    fn take_card(&mut self, id: &str) -> Option<Card> {
        self.columns.iter_mut().find_map(|column| {
            let index = column.cards.iter().position(|c| c.id == id)?;
            Some(column.cards.remove(index))
        })
    }
}

fn card_title(value: &str) -> Result<String, DomainError> {
    text(value, "a card's title", 1, MAX_CARD_TITLE_CHARS, false)
}

fn column_title(value: &str) -> Result<String, DomainError> {
    text(value, "a column's title", 1, MAX_COLUMN_TITLE_CHARS, false)
}

fn notes(value: &str) -> Result<String, DomainError> {
    text(value, "notes", 0, MAX_NOTES_CHARS, true)
}

impl Domain for Board {
    type Event = BoardEvent;
    type Command = BoardCommand;

    fn decide(&self, command: BoardCommand, context: &mut Context) -> Result<BoardEvent, DomainError> {
        let actor = context.actor;
        if !actor.is_organiser() && actor.team != Some(self.team.as_str()) {
            return Err(DomainError::Forbidden("only the team's members change its board".into()));
        }
        let check_assignee = |assignee: &Option<String>| match assignee {
            Some(id) if !(context.is_participant)(id) => Err(DomainError::NotFound(format!("participant `{id}`"))),
            _ => Ok(()),
        };
        match command {
            BoardCommand::AddColumn { title } => {
                if self.columns.len() >= MAX_COLUMNS {
                    return Err(DomainError::Conflict(format!("a board holds at most {MAX_COLUMNS} columns")));
                }
                Ok(BoardEvent::ColumnAdded { column: (context.fresh_id)("col"), title: column_title(&title)? })
            }
            BoardCommand::RenameColumn { column, title } => {
                self.column(&column)?;
                Ok(BoardEvent::ColumnRenamed { column, title: column_title(&title)? })
            }
            BoardCommand::MoveColumn { column, index } => {
                self.column(&column)?;
                Ok(BoardEvent::ColumnMoved { column, index: index.min(self.columns.len() - 1) })
            }
            BoardCommand::DeleteColumn { column } => {
                if !self.column(&column)?.cards.is_empty() {
                    return Err(DomainError::Conflict("move or delete the column's cards first".into()));
                }
                if self.columns.len() == 1 {
                    return Err(DomainError::Conflict("a board keeps at least one column".into()));
                }
                Ok(BoardEvent::ColumnDeleted { column })
            }
            BoardCommand::AddCard { column, title, notes: n, assignee } => {
                if self.cards().count() >= MAX_CARDS {
                    return Err(DomainError::Conflict(format!("a board holds at most {MAX_CARDS} cards")));
                }
                let column = match column {
                    Some(id) => self.column(&id)?,
                    None => self.columns.first().ok_or_else(|| DomainError::NotFound("a column".into()))?,
                };
                check_assignee(&assignee)?;
                Ok(BoardEvent::CardAdded {
                    column: column.id.clone(),
                    index: column.cards.len(),
                    card: Card { id: (context.fresh_id)("c"), title: card_title(&title)?, notes: notes(&n)?, assignee },
                })
            }
            BoardCommand::EditCard { card, title, notes: n, assignee } => {
                let mut edited = self.card(&card)?.clone();
                if let Some(title) = title {
                    edited.title = card_title(&title)?;
                }
                if let Some(n) = n {
                    edited.notes = notes(&n)?;
                }
                if let Some(assignee) = assignee {
                    check_assignee(&assignee)?;
                    edited.assignee = assignee;
                }
                Ok(BoardEvent::CardEdited { card: edited })
            }
            BoardCommand::MoveCard { card, column, index } => {
                self.card(&card)?;
                let target = self.column(&column)?;
                let others = target.cards.iter().filter(|c| c.id != card).count();
                Ok(BoardEvent::CardMoved { card, column, index: index.min(others) })
            }
            BoardCommand::DeleteCard { card } => {
                self.card(&card)?;
                Ok(BoardEvent::CardDeleted { card })
            }
        }
    }

    fn apply(&mut self, event: &BoardEvent, _recorded: Recorded) {
        match event {
            BoardEvent::ColumnAdded { column, title } => {
                self.columns.push(Column { id: column.clone(), title: title.clone(), cards: Vec::new() });
            }
            BoardEvent::ColumnRenamed { column, title } => {
                if let Some(c) = self.columns.iter_mut().find(|c| c.id == *column) {
                    c.title = title.clone();
                }
            }
            BoardEvent::ColumnMoved { column, index } => {
                if let Some(from) = self.columns.iter().position(|c| c.id == *column) {
                    let moved = self.columns.remove(from);
                    let index = (*index).min(self.columns.len());
                    self.columns.insert(index, moved);
                }
            }
            BoardEvent::ColumnDeleted { column } => self.columns.retain(|c| c.id != *column),
            BoardEvent::CardAdded { column, index, card } => {
                if let Some(c) = self.columns.iter_mut().find(|c| c.id == *column) {
                    let index = (*index).min(c.cards.len());
                    c.cards.insert(index, card.clone());
                }
            }
            BoardEvent::CardEdited { card } => {
                if let Some(existing) =
                    self.columns.iter_mut().flat_map(|c| c.cards.iter_mut()).find(|c| c.id == card.id)
                {
                    *existing = card.clone();
                }
            }
            BoardEvent::CardMoved { card, column, index } => {
                if !self.columns.iter().any(|c| c.id == *column) {
                    return;
                }
                if let Some(moved) = self.take_card(card)
                    && let Some(target) = self.columns.iter_mut().find(|c| c.id == *column)
                {
                    let index = (*index).min(target.cards.len());
                    target.cards.insert(index, moved);
                }
            }
            BoardEvent::CardDeleted { card } => {
                self.take_card(card);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use makeroom_protocol::Role;
    use proptest::prelude::*;

    const MEMBER: Actor = Actor { id: "ada", role: Role::Participant, team: Some("t1") };

    /// The server's side: decides against the current board and, if accepted, logs and applies.
    struct Server {
        board: Board,
        log: Vec<BoardEvent>,
        next_id: usize,
    }

    impl Server {
        fn new() -> Self {
            Server { board: Board::new("t1"), log: Vec::new(), next_id: 0 }
        }

        fn run(&mut self, actor: Actor, command: BoardCommand) -> Result<(), DomainError> {
            let next_id = &mut self.next_id;
            let mut fresh = |prefix: &str| {
                *next_id += 1;
                format!("{prefix}{next_id}")
            };
            let is_participant = |id: &str| id == "ada" || id == "bo";
            let is_brief = |_: &str| false;
            let mut context = Context {
                actor,
                is_participant: &is_participant,
                is_brief: &is_brief,
                is_team: &|_: &str| true,
                fresh_id: &mut fresh,
            };
            let event = self.board.decide(command, &mut context)?;
            self.board.apply(&event, Recorded { offset: self.log.len() as u64 + 1, ts: 0, by: actor.id });
            self.log.push(event);
            Ok(())
        }
    }

    /// A phone: its own copy of the board and how far into the log it has read.
    #[derive(Clone)]
    struct Phone {
        board: Board,
        seen: usize,
    }

    impl Phone {
        fn catch_up(&mut self, log: &[BoardEvent]) {
            for (i, event) in log.iter().enumerate().skip(self.seen) {
                self.board.apply(event, Recorded { offset: i as u64 + 1, ts: 0, by: "x" });
            }
            self.seen = log.len();
        }
    }

    #[test]
    fn cards_are_added_moved_reordered_edited_and_deleted() {
        let mut server = Server::new();
        for title in ["Interview residents", "Sketch the home page", "Write the cabinet paper"] {
            server
                .run(
                    MEMBER,
                    BoardCommand::AddCard { column: None, title: title.into(), notes: String::new(), assignee: None },
                )
                .expect("add");
        }
        let ids: Vec<String> = server.board.columns[0].cards.iter().map(|c| c.id.clone()).collect();
        server
            .run(MEMBER, BoardCommand::MoveCard { card: ids[2].clone(), column: "todo".into(), index: 0 })
            .expect("reorder");
        server
            .run(MEMBER, BoardCommand::MoveCard { card: ids[0].clone(), column: "doing".into(), index: 99 })
            .expect("move");
        server
            .run(
                MEMBER,
                BoardCommand::EditCard {
                    card: ids[0].clone(),
                    title: None,
                    notes: Some("with Healthwatch".into()),
                    assignee: Some(Some("bo".into())),
                },
            )
            .expect("edit");
        let todo: Vec<&str> = server.board.columns[0].cards.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(todo, vec!["Write the cabinet paper", "Sketch the home page"]);
        let doing = &server.board.columns[1].cards[0];
        assert_eq!((doing.title.as_str(), doing.assignee.as_deref()), ("Interview residents", Some("bo")));
        server
            .run(
                MEMBER,
                BoardCommand::EditCard { card: ids[0].clone(), title: None, notes: None, assignee: Some(None) },
            )
            .expect("unassign");
        assert_eq!(server.board.columns[1].cards[0].assignee, None);
        server.run(MEMBER, BoardCommand::DeleteCard { card: ids[0].clone() }).expect("delete");
        assert!(
            matches!(
                server.run(MEMBER, BoardCommand::MoveCard { card: ids[0].clone(), column: "done".into(), index: 0 }),
                Err(DomainError::NotFound(_))
            ),
            "moving a deleted card"
        );
    }

    #[test]
    fn columns_are_editable_and_only_empty_ones_go() {
        let mut server = Server::new();
        server.run(MEMBER, BoardCommand::AddColumn { title: "Blocked".into() }).expect("add column");
        let blocked = server.board.columns[3].id.clone();
        server.run(MEMBER, BoardCommand::MoveColumn { column: blocked.clone(), index: 1 }).expect("move column");
        assert_eq!(
            server.board.columns.iter().map(|c| c.title.as_str()).collect::<Vec<_>>(),
            ["To do", "Blocked", "Doing", "Done"]
        );
        server
            .run(
                MEMBER,
                BoardCommand::AddCard {
                    column: Some(blocked.clone()),
                    title: "Wait for data".into(),
                    notes: String::new(),
                    assignee: None,
                },
            )
            .expect("card");
        assert!(matches!(
            server.run(MEMBER, BoardCommand::DeleteColumn { column: blocked.clone() }),
            Err(DomainError::Conflict(_))
        ));
        server
            .run(MEMBER, BoardCommand::RenameColumn { column: "done".into(), title: "Shipped".into() })
            .expect("rename");
        assert!(matches!(
            server.run(MEMBER, BoardCommand::RenameColumn { column: "done".into(), title: "  ".into() }),
            Err(DomainError::Invalid(_))
        ));
        server.run(MEMBER, BoardCommand::DeleteColumn { column: "doing".into() }).expect("delete empty");
        assert_eq!(server.board.columns.len(), 3);
    }

    #[test]
    fn only_the_team_and_organisers_change_a_board_and_refusals_change_nothing() {
        let mut server = Server::new();
        let outsider = Actor { id: "cy", role: Role::Participant, team: Some("t2") };
        let display = Actor { id: "d", role: Role::Display, team: None };
        let add = || BoardCommand::AddCard { column: None, title: "x".into(), notes: String::new(), assignee: None };
        assert!(matches!(server.run(outsider, add()), Err(DomainError::Forbidden(_))));
        assert!(matches!(server.run(display, add()), Err(DomainError::Forbidden(_))));
        let before = server.board.clone();
        assert!(
            matches!(
                server.run(
                    MEMBER,
                    BoardCommand::AddCard { column: None, title: " ".into(), notes: String::new(), assignee: None }
                ),
                Err(DomainError::Invalid(_))
            ),
            "an empty title"
        );
        assert!(matches!(
            server.run(
                MEMBER,
                BoardCommand::AddCard {
                    column: None,
                    title: "x".into(),
                    notes: String::new(),
                    assignee: Some("ghost".into())
                }
            ),
            Err(DomainError::NotFound(_))
        ));
        assert_eq!(server.board, before);
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        server.run(host, add()).expect("organisers help out");
    }

    /// One step of a random session: a phone acts on what its own (maybe stale) board shows, or reads
    /// the log to catch up.
    #[derive(Debug, Clone)]
    enum Step {
        CatchUp { phone: usize },
        Act { phone: usize, action: u8, a: usize, b: usize, c: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            1 => (0..4usize).prop_map(|phone| Step::CatchUp { phone }),
            4 => (0..4usize, 0..8u8, 0..20usize, 0..6usize, 0..20usize)
                .prop_map(|(phone, action, a, b, c)| Step::Act { phone, action, a, b, c }),
        ]
    }

    /// The command a phone makes from its own view; ids may be stale on purpose.
    fn command_from(view: &Board, action: u8, a: usize, b: usize, c: usize) -> BoardCommand {
        let cards: Vec<&Card> = view.cards().collect();
        let card = cards.get(a % cards.len().max(1)).map(|c| c.id.clone()).unwrap_or_else(|| "c_gone".into());
        let column =
            view.columns.get(b % view.columns.len().max(1)).map(|c| c.id.clone()).unwrap_or_else(|| "todo".into());
        match action {
            0 | 1 => BoardCommand::AddCard {
                column: Some(column),
                title: format!("card {a}"),
                notes: String::new(),
                assignee: None,
            },
            2 | 3 => BoardCommand::MoveCard { card, column, index: c },
            4 => BoardCommand::EditCard {
                card,
                title: Some(format!("renamed {c}")),
                notes: None,
                assignee: Some(c.is_multiple_of(2).then(|| "bo".to_string())),
            },
            5 => BoardCommand::DeleteCard { card },
            6 => BoardCommand::AddColumn { title: format!("col {c}") },
            _ => BoardCommand::MoveColumn { column, index: c },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Four phones act concurrently on stale views; whatever the server accepts, every replica
        /// that applies the log (live phones, a fresh fold, a snapshot plus the tail) ends identical.
        #[test]
        fn concurrent_phones_converge_on_one_board(steps in proptest::collection::vec(step(), 1..120), cut in 0usize..200) {
            let mut server = Server::new();
            let mut phones = vec![Phone { board: Board::new("t1"), seen: 0 }; 4];
            let mut snapshot: Option<(Board, usize)> = None;
            for step in steps {
                match step {
                    Step::CatchUp { phone } => phones[phone].catch_up(&server.log),
                    Step::Act { phone, action, a, b, c } => {
                        let command = command_from(&phones[phone].board, action, a, b, c);
                        let actor = if phone == 3 { Actor { id: "host", role: Role::Organiser, team: None } } else { MEMBER };
                        // Refusals (stale ids, full boards) are fine; they must change nothing.
                        let before = server.board.clone();
                        if server.run(actor, command).is_err() {
                            prop_assert_eq!(&server.board, &before);
                        }
                    }
                }
                if snapshot.is_none() && server.log.len() >= cut {
                    snapshot = Some((server.board.clone(), server.log.len()));
                }
            }
            for phone in &mut phones {
                phone.catch_up(&server.log);
                prop_assert_eq!(&phone.board, &server.board);
            }
            let mut fresh = Phone { board: Board::new("t1"), seen: 0 };
            fresh.catch_up(&server.log);
            prop_assert_eq!(&fresh.board, &server.board);
            if let Some((board, seen)) = snapshot {
                let mut late = Phone { board, seen };
                late.catch_up(&server.log);
                prop_assert_eq!(&late.board, &server.board);
            }
            let mut ids: Vec<&str> = server.board.cards().map(|c| c.id.as_str()).collect();
            let count = ids.len();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), count, "every card is on the board once");
        }
    }
}
