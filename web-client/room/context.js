// room/context.js: what every section of the room reads: the page's client, who this person is and
// which team they are in, which section is open, the event's state channels as last folded, and
// the names behind ids. The sections read it; the room (room.js) keeps it up to date.

import { Makeroom, tokenSource } from '../makeroom.js';

export class RoomContext {
  constructor(session) {
    this.session = session;
    this.eventId = session.event.id;
    this.me = session.participant;
    this.teamId = session.team || null;
    this.teamNames = new Map(); // from /api/join, until the roster is here
    this.section = 'chat'; // the section shown
    this.client = new Makeroom({
      getToken: tokenSource(session.refresh_token),
      outboxKey: `makeroom:outbox:${this.eventId}:${this.me.id}`,
    });
    // The state channels, null until their first snapshot.
    this.roster = null;
    this.briefs = null;
    this.schedule = null;
    this.presentations = null;
    this.help = null;
    this.outputs = null;

    // Arrow functions, so that they can be handed on as they are (`names: room.nameOf`).
    this.nameOf = (id) => {
      if (id === 'system') return 'Makeroom';
      if (id === this.me.id) return this.me.name;
      const person = this.roster && this.roster.participants[id];
      return person ? person.name : null;
    };
    this.teamOf = (id) => (this.roster && this.roster.teams[id]) || null;
    this.teamName = (id = this.teamId) => {
      if (!id) return null;
      const team = this.teamOf(id);
      return team ? team.name : this.teamNames.get(id) || 'Your team';
    };
    this.openTeams = () =>
      this.roster
        ? Object.values(this.roster.teams)
            .filter((team) => !team.archived)
            .sort((a, b) => a.name.localeCompare(b.name))
        : [];
  }
}
