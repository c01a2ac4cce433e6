//! The `board:{id}` channels' wire types: a team's task board, its commands and its recorded events
//! (PROTOCOL.md §8, "`board:{id}`").
//!
//! Data only. The server's rules (who may change a board, how long a title may be, how many cards
//! fit) live with the server; what is here is what crosses the wire.

use serde::{Deserialize, Deserializer, Serialize};

/// A card on a board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// A `c_…` id.
    pub id: String,
    pub title: String,
    /// Free text; may hold newlines. `""` when none.
    #[serde(default)]
    pub notes: String,
    /// The id of the person it is assigned to, or `null`.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// A column of a board, holding its cards in display order. `column_added` creates one with no
/// cards; the default ones are `todo`, `doing` and `done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// `todo`, `doing`, `done` or a `col_…` id.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub cards: Vec<Card>,
}

/// Everything recorded on a board's log. `index` is a position counted from 0; apply clamps it to
/// the end (PROTOCOL.md says exactly how).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BoardEvent {
    /// `column_added`: a new, empty column at the end; `column` is its fresh id.
    ColumnAdded { column: String, title: String },
    /// `column_renamed`.
    ColumnRenamed { column: String, title: String },
    /// `column_moved`: the column now stands at `index`.
    ColumnMoved { column: String, index: usize },
    /// `column_deleted`: an empty column is gone.
    ColumnDeleted { column: String },
    /// `card_added`: `card` inserted at `index` in `column`.
    CardAdded { column: String, index: usize, card: Card },
    /// `card_edited`: the card as it now stands, replacing the one with the same id in place.
    CardEdited { card: Card },
    /// `card_moved`: the card (an id) now stands at `index` in `column`.
    CardMoved { card: String, column: String, index: usize },
    /// `card_deleted`.
    CardDeleted { card: String },
}

/// `null` and absent are different for an optional field: absent keeps, `null` clears.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What a team does to its board (`command` on `board:{id}`). `column` and `card` are ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum BoardCommand {
    /// Adds a column at the end.
    #[serde(rename = "column.add")]
    AddColumn { title: String },
    #[serde(rename = "column.rename")]
    RenameColumn { column: String, title: String },
    #[serde(rename = "column.move")]
    MoveColumn { column: String, index: usize },
    /// Only an empty column can be deleted, so no card is lost by accident.
    #[serde(rename = "column.delete")]
    DeleteColumn { column: String },
    /// Adds at the end of `column` (the first column if absent).
    #[serde(rename = "card.add")]
    AddCard {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
        title: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        notes: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee: Option<String>,
    },
    /// Absent fields keep the card's value; for `assignee`, `Some(None)` (`null`) clears it.
    #[serde(rename = "card.edit")]
    EditCard {
        card: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
        #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
        assignee: Option<Option<String>>,
    },
    /// Moves a card to `index` in `column` (its own column to reorder).
    #[serde(rename = "card.move")]
    MoveCard { card: String, column: String, index: usize },
    #[serde(rename = "card.delete")]
    DeleteCard { card: String },
}

impl BoardCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            BoardCommand::AddColumn { .. } => "column.add",
            BoardCommand::RenameColumn { .. } => "column.rename",
            BoardCommand::MoveColumn { .. } => "column.move",
            BoardCommand::DeleteColumn { .. } => "column.delete",
            BoardCommand::AddCard { .. } => "card.add",
            BoardCommand::EditCard { .. } => "card.edit",
            BoardCommand::MoveCard { .. } => "card.move",
            BoardCommand::DeleteCard { .. } => "card.delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_board_command_and_event_round_trips() {
        let section = documented::section("board:{id}");
        documented::check_commands(
            section,
            crate::ChannelKind::Board,
            &[
                "column.add",
                "column.rename",
                "column.move",
                "column.delete",
                "card.add",
                "card.edit",
                "card.move",
                "card.delete",
            ],
        );
        documented::check_events::<BoardEvent>(
            section,
            &[
                "column_added",
                "column_renamed",
                "column_moved",
                "column_deleted",
                "card_added",
                "card_edited",
                "card_moved",
                "card_deleted",
            ],
        );
    }

    #[test]
    fn an_absent_assignee_keeps_and_a_null_one_clears_both_ways() {
        let keep: BoardCommand = serde_json::from_str(r#"{"type":"card.edit","card":"c1"}"#).expect("parses");
        assert!(matches!(keep, BoardCommand::EditCard { assignee: None, .. }));
        assert_eq!(serde_json::to_string(&keep).expect("json"), r#"{"type":"card.edit","card":"c1"}"#);
        let clear: BoardCommand =
            serde_json::from_str(r#"{"type":"card.edit","card":"c1","assignee":null}"#).expect("parses");
        assert!(matches!(clear, BoardCommand::EditCard { assignee: Some(None), .. }));
        assert_eq!(serde_json::to_string(&clear).expect("json"), r#"{"type":"card.edit","card":"c1","assignee":null}"#);
    }
}
