// organiser/context.js: what every section of the organiser's console reads: the page's client and
// token source, who is signed in, the event's state channels as last folded, who is connected, and
// the names behind ids; and `send`, for a command whose refusal is shown where it was made.

import { $, clientFromLink } from '../ui.js';
import { errorText, t } from '../i18n.js';

export const ROLE = 'organiser';

export class OrganiserContext {
  constructor(signedIn) {
    const { session } = signedIn;
    this.session = session;
    this.eventId = session.event.id;
    this.me = session.participant;
    const { client, source } = clientFromLink(signedIn);
    this.client = client;
    this.source = source; // for the HTTP API's bearer tokens (export, displays)
    // The state channels, null until their first snapshot.
    this.roster = null;
    this.briefs = null;
    this.schedule = null;
    this.presentations = null;
    this.help = null;
    this.outputs = null;
    this.present = []; // who is connected: the lobby's presence

    // Arrow functions, so that they can be handed on as they are (`names: organiser.nameOf`).
    this.nameOf = (id) => {
      if (id === 'system') return 'Makeroom';
      if (id === this.me.id) return t('chat.meHere', { name: this.me.name });
      const person = this.roster && this.roster.participants[id];
      return person ? person.name : null;
    };
    this.teamName = (id) => (this.roster && this.roster.teams[id] ? this.roster.teams[id].name : t('org.aTeam'));
    this.openTeams = () => (this.roster ? Object.values(this.roster.teams).filter((t) => !t.archived).sort((a, b) => a.name.localeCompare(b.name)) : []);
  }

  /** Shows `text` in the page's message line (role="alert"); '' clears it. */
  fail(text) {
    $('#message').textContent = text;
  }

  /**
   * Sends a command; a refusal is shown in `where` (an element with role="alert"): "Could not
   * {what}." in the reader's language (`what` from the catalogue), and what the refusal's code means.
   */
  send(channel, command, where, what) {
    if (where) where.textContent = '';
    const entry = this.client.command(channel, command);
    entry.done.catch((err) => {
      if (where) where.textContent = `${t('org.couldNot', { what })} ${errorText(err)}`;
    });
    return entry;
  }
}
