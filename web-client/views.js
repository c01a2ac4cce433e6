// views.js: pieces of page shared by the room and the organiser console: safe Markdown, tab lists,
// and a team's task board with tap, keyboard and drag-and-drop moves.

import { applyEvent, clone, expectedBoardEvent } from './state.js';
import { h, setChildren } from './ui.js';
import { errorText, localText, t } from './i18n.js';

/** The default columns keep the reader's names for them until a team renames them. */
const DEFAULT_COLUMNS = { todo: 'To do', doing: 'Doing', done: 'Done' };
function columnTitle(column) {
  return DEFAULT_COLUMNS[column.id] === column.title ? t(`board.column.${column.id}`) : column.title;
}

// ------------------------------------------------------------------ Markdown, safely

/**
 * Renders a small part of Markdown as DOM nodes: headings, lists, paragraphs, quotes, code blocks,
 * and inline **bold**, *emphasis*, `code` and [links](https://…). Everything is made with
 * createElement and text nodes, so HTML in the text shows as text and cannot run. Heading levels
 * start at `headingBase` (default 3, for briefs shown under a page's h1 and h2).
 */
export function renderMarkdown(text, { headingBase = 3 } = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(text || '').replace(/\r\n?/g, '\n').split('\n');
  let paragraph = [];
  let list = null; // {node, ordered}
  let quote = null;
  const flushParagraph = () => {
    if (paragraph.length) fragment.append(h('p', {}, inline(paragraph.join(' '))));
    paragraph = [];
  };
  const closeBlocks = () => {
    flushParagraph();
    list = null;
    quote = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let match;
    if (/^\s*$/.test(line)) {
      closeBlocks();
    } else if ((match = line.match(/^\s{0,3}(```|~~~)/))) {
      closeBlocks();
      const fence = match[1];
      const code = [];
      for (i += 1; i < lines.length && !lines[i].trim().startsWith(fence); i++) code.push(lines[i]);
      fragment.append(h('pre', {}, h('code', { text: code.join('\n') })));
    } else if ((match = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/))) {
      closeBlocks();
      const level = Math.min(6, headingBase + Math.max(0, match[1].length - 2));
      fragment.append(h(`h${level}`, { class: 'md-heading' }, inline(match[2])));
    } else if ((match = line.match(/^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/))) {
      flushParagraph();
      quote = null;
      const ordered = /\d/.test(match[1]);
      if (!list || list.ordered !== ordered) {
        list = { node: h(ordered ? 'ol' : 'ul'), ordered };
        if (ordered && parseInt(match[1], 10) !== 1) list.node.start = parseInt(match[1], 10);
        fragment.append(list.node);
      }
      list.node.append(h('li', {}, inline(match[2])));
    } else if ((match = line.match(/^\s{0,3}>\s?(.*)$/))) {
      flushParagraph();
      list = null;
      if (!quote) {
        quote = h('blockquote');
        fragment.append(quote);
      }
      quote.append(h('p', {}, inline(match[1])));
    } else if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      closeBlocks();
      fragment.append(h('hr'));
    } else if (list && /^\s{2,}\S/.test(line)) {
      // A continuation line of the last list item.
      list.node.lastElementChild.append(' ', ...inline(line.trim()));
    } else {
      list = null;
      quote = null;
      paragraph.push(line.trim());
    }
  }
  flushParagraph();
  return fragment;
}

/** Inline Markdown as a list of nodes: **strong**, *em* / _em_, `code`, [text](http(s)://…). */
function inline(text) {
  const nodes = [];
  const pattern = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|\b_([^_\s][^_]*)_\b|\[([^\]]+)\]\(\s*(https?:\/\/[^\s)]+)\s*\)/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text))) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    if (match[2] !== undefined) nodes.push(h('code', { text: match[2] }));
    else if (match[3] !== undefined || match[4] !== undefined) nodes.push(h('strong', {}, inline(match[3] || match[4])));
    else if (match[5] !== undefined || match[6] !== undefined) nodes.push(h('em', {}, inline(match[5] || match[6])));
    else nodes.push(h('a', { href: match[8], rel: 'noopener noreferrer nofollow', target: '_blank' }, inline(match[7])));
    last = pattern.lastIndex;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

// ------------------------------------------------------------------ tab lists

/**
 * Makes `tablist` (role="tablist" holding role="tab" buttons with aria-controls) a keyboard tab
 * list: arrow keys, Home and End move between tabs and select them. Returns `select(name)`.
 * `onSelect(name)` is told each selection; tabs are named by their `data-tab`.
 */
export function tabList(tablist, { onSelect = () => {}, vertical = false } = {}) {
  const tabs = [...tablist.querySelectorAll('[role="tab"]')];
  const select = (name, { focus = false } = {}) => {
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(tab.getAttribute('aria-controls'));
      if (panel) panel.hidden = !on;
      if (on && focus) tab.focus();
      // A row of tabs too wide for the screen (large text) scrolls: keep the selected one in view.
      if (on && tablist.scrollWidth > tablist.clientWidth) tablist.scrollLeft = Math.max(0, Math.min(tab.offsetLeft - tablist.offsetLeft - 16, tablist.scrollWidth - tablist.clientWidth));
    }
    onSelect(name);
  };
  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab.dataset.tab));
    tab.addEventListener('keydown', (event) => {
      const at = tabs.indexOf(tab);
      const keys = vertical ? ['ArrowUp', 'ArrowDown'] : ['ArrowLeft', 'ArrowRight'];
      let next = null;
      if (event.key === keys[0]) next = tabs[(at - 1 + tabs.length) % tabs.length];
      else if (event.key === keys[1]) next = tabs[(at + 1) % tabs.length];
      else if (event.key === 'Home') next = tabs[0];
      else if (event.key === 'End') next = tabs[tabs.length - 1];
      if (!next) return;
      event.preventDefault();
      select(next.dataset.tab, { focus: true });
    });
  }
  return select;
}

// ------------------------------------------------------------------ task board

const DRAG_THRESHOLD = 6; // px a pointer moves before a press becomes a drag
const MAX_COLUMNS = 12; // PROTOCOL.md: a board holds at most 12 columns

/**
 * A team's task board (PROTOCOL.md `board:{id}`) in `root`. Shows the state as the server holds it,
 * plus this person's changes that wait to be sent (marked "waiting"), so a move shows at once, also
 * offline, and settles when its event comes back. With `editable`, cards can be added, renamed,
 * moved with buttons (tap and keyboard) or by dragging their handle, reordered, given to anyone in
 * the team, and deleted; and columns added, renamed, reordered and deleted (an empty one).
 *
 * `setState(state, offset)` takes the confirmed state after each event. `names(id)` gives a
 * person's name, and `people()` the people a card can be given to ([{id, name}]). `onMessage(text)`
 * reports a refused change.
 */
export class BoardView {
  constructor({ root, client, channel, editable = false, names = () => null, people = () => [], meId = null, onMessage = () => {}, label = t('board.taskBoard') }) {
    this.root = root;
    this.client = client;
    this.channel = channel;
    this.editable = editable;
    this.names = names;
    this.people = people;
    this.meId = meId;
    this.onMessage = onMessage;
    this.state = null;
    this.offset = 0;
    this.inflight = []; // [{key, command, offset}]: sent, its event not applied yet
    this.cards = new Map(); // card id -> {node, ...parts}
    this.columns = new Map(); // column id -> {node, list, heading, count}
    this.openCard = null; // the card whose tools are shown
    this.editing = null; // the card whose edit form is shown
    this.openColumn = null; // the column whose tools are shown
    this.renamingColumn = null; // the column whose rename form is shown
    this.drag = null;
    this.offs = [];
    this.root.classList.add('board');
    if (editable) this.root.classList.add('editable');
    this.root.setAttribute('aria-label', label);
    this.columnsNode = h('div', { class: 'board-columns' });
    if (editable) {
      this.addInput = h('input', { id: `${root.id}-new-card`, maxlength: '140', autocomplete: 'off', enterkeyhint: 'done', placeholder: t('board.whatNeedsDoing') });
      this.addForm = h(
        'form',
        { class: 'add-card', onsubmit: (event) => this.onAdd(event) },
        h('label', { for: this.addInput.id, class: 'visually-hidden', text: t('board.newCard') }),
        this.addInput,
        h('button', { type: 'submit' }, t('board.addCard')),
      );
      root.append(this.addForm);
      this.offs.push(
        client.on('outbox', () => this.render()),
        client.on('sent', ({ entry, offset, duplicate }) => {
          if (entry.channel !== this.channel || entry.op !== 'command') return;
          if (!duplicate && offset > this.offset) this.inflight.push({ key: entry.key, command: entry.command, offset });
          this.render();
        }),
        client.on('failed', ({ entry, error }) => {
          if (entry.channel !== this.channel) return;
          this.onMessage(`${t('form.notMade')} ${errorText(error)}`);
          this.render();
        }),
      );
    }
    this.empty = h('p', { class: 'empty', text: t('board.loading') });
    root.append(this.empty, this.columnsNode);
    if (editable) {
      this.columnInput = h('input', { id: `${root.id}-new-column`, maxlength: '40', autocomplete: 'off', enterkeyhint: 'done', placeholder: t('board.columnPlaceholder') });
      this.addColumnForm = h(
        'form',
        { class: 'add-column', onsubmit: (event) => this.onAddColumn(event) },
        h('label', { for: this.columnInput.id, text: t('board.addAColumn') }),
        h('div', { class: 'copy-row' }, this.columnInput, h('button', { type: 'submit', class: 'secondary' }, t('board.addColumn'))),
      );
      root.append(this.addColumnForm);
    }
  }

  destroy() {
    for (const off of this.offs.splice(0)) off();
    this.cancelDrag();
    setChildren(this.root);
  }

  setState(state, offset) {
    this.state = state;
    this.offset = offset || 0;
    this.inflight = this.inflight.filter((item) => item.offset > this.offset);
    this.render();
  }

  /** The board as shown: the confirmed state with this person's waiting changes applied on top. */
  shown() {
    if (!this.state) return null;
    const waiting = [
      ...this.inflight,
      ...(this.editable ? this.client.outbox.filter((entry) => entry.channel === this.channel && entry.op === 'command') : []),
    ];
    if (waiting.length === 0) return { board: this.state, pending: new Set() };
    const board = clone(this.state);
    const pending = new Set();
    for (const item of waiting) {
      const event = expectedBoardEvent(board, item.command, item.key);
      if (!event) continue;
      applyEvent(this.channel, board, { data: event });
      pending.add(event.card && event.card.id ? event.card.id : event.card);
    }
    return { board, pending };
  }

  send(command) {
    this.client.command(this.channel, command);
  }

  onAdd(event) {
    event.preventDefault();
    const title = this.addInput.value.trim();
    if (!title) {
      this.addInput.focus();
      return;
    }
    this.send({ type: 'card.add', title });
    this.addInput.value = '';
    this.addInput.focus();
  }

  onAddColumn(event) {
    event.preventDefault();
    const title = this.columnInput.value.trim();
    if (!title) {
      this.columnInput.focus();
      return;
    }
    this.send({ type: 'column.add', title });
    this.columnInput.value = '';
    this.columnInput.focus();
  }

  /** Moves a card to `index` in `column` (the index among the column's other cards). */
  move(cardId, column, index) {
    this.send({ type: 'card.move', card: cardId, column, index: Math.max(0, index) });
  }

  render() {
    const shown = this.shown();
    if (!shown) return;
    const { board, pending } = shown;
    const active = document.activeElement;
    const inside = active && this.root.contains(active);
    const holder = inside ? active.closest('[data-card]') : null;
    const focus = inside ? { node: active, card: holder && holder.dataset.card, action: active.dataset.action } : null;
    this.empty.hidden = true;
    const seenColumns = new Set();
    const seenCards = new Set();
    let columnCursor = this.columnsNode.firstChild;
    for (const column of board.columns) {
      seenColumns.add(column.id);
      const view = this.columnView(column);
      if (view.node !== columnCursor) this.columnsNode.insertBefore(view.node, columnCursor);
      else columnCursor = columnCursor.nextSibling;
      view.heading.textContent = columnTitle(column);
      view.count.textContent = t('board.cards', { count: column.cards.length });
      if (this.editable) this.updateColumnTools(view, column, board);
      view.none.hidden = column.cards.length > 0;
      let cursor = view.list.firstChild;
      column.cards.forEach((card, index) => {
        seenCards.add(card.id);
        const cardView = this.cardView(card);
        this.updateCard(cardView, card, column, index, board, pending.has(card.id));
        if (cardView.node !== cursor) view.list.insertBefore(cardView.node, cursor);
        else cursor = cursor.nextSibling;
      });
      while (cursor) {
        const next = cursor.nextSibling;
        if (!cursor.classList.contains('drop-marker')) cursor.remove();
        cursor = next;
      }
    }
    for (const [id, view] of this.columns) {
      if (!seenColumns.has(id)) {
        view.node.remove();
        this.columns.delete(id);
      }
    }
    if (this.addColumnForm) this.addColumnForm.hidden = board.columns.length >= MAX_COLUMNS;
    for (const [id, view] of this.cards) {
      if (!seenCards.has(id)) {
        view.node.remove();
        this.cards.delete(id);
      }
    }
    // Moving or redrawing a node takes the focus from what was inside it: give it back, to the same
    // action on the same card (or column) where it still exists, else to the card (or column) itself.
    if (focus && document.activeElement !== focus.node) {
      const columnHolder = inside ? active.closest('[data-column-tools]') : null;
      if (this.root.contains(focus.node)) focus.node.focus();
      else if (focus.card && this.cards.has(focus.card)) {
        const view = this.cards.get(focus.card);
        const same = focus.action && view.node.querySelector(`[data-action="${focus.action}"]:not([disabled])`);
        (same || view.title).focus();
      } else if (columnHolder && this.columns.has(columnHolder.dataset.columnTools)) {
        const view = this.columns.get(columnHolder.dataset.columnTools);
        const same = focus.action && view.node.querySelector(`[data-action="${focus.action}"]:not([disabled])`);
        (same || view.toggle).focus();
      }
    }
  }

  columnView(column) {
    let view = this.columns.get(column.id);
    if (view) return view;
    const headingId = `${this.root.id}-col-${column.id}`;
    view = {
      heading: h('h3', { id: headingId }),
      count: h('span', { class: 'count' }),
      list: h('ol', { class: 'cards', 'aria-labelledby': headingId, 'data-column': column.id }),
      none: h('p', { class: 'none', text: t('board.noCards') }),
    };
    if (this.editable) {
      const toolsId = `${this.root.id}-coltools-${column.id}`.replace(/[^A-Za-z0-9_-]/g, '_');
      view.toggle = h('button', { type: 'button', class: 'secondary column-toggle', 'aria-expanded': 'false', 'aria-controls': toolsId, 'data-column-tools': column.id, 'data-action': 'column', onclick: () => this.toggleColumn(column.id) }, t('board.column'));
      view.tools = h('div', { class: 'column-tools', id: toolsId, 'data-column-tools': column.id, hidden: true });
    }
    view.node = h(
      'section',
      { class: 'board-column', 'data-column': column.id },
      h('header', {}, view.heading, view.count, view.toggle || null),
      view.tools || null,
      view.list,
      view.none,
    );
    this.columns.set(column.id, view);
    return view;
  }

  toggleColumn(columnId) {
    this.openColumn = this.openColumn === columnId ? null : columnId;
    this.renamingColumn = null;
    this.render();
  }

  /** A column's tools: rename, move earlier or later, delete (only an empty one, never the last). */
  updateColumnTools(view, column, board) {
    const open = this.openColumn === column.id;
    const index = board.columns.indexOf(column);
    view.toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    view.toggle.setAttribute('aria-label', t('board.changeColumn', { column: columnTitle(column) }));
    view.toggle.disabled = column.id.startsWith('pending:');
    view.tools.hidden = !open;
    if (open && this.renamingColumn === column.id) {
      if (!view.renameForm) {
        view.renameForm = this.columnRenameForm(column);
        view.toolsKey = null;
        setChildren(view.tools, view.renameForm);
      }
      return;
    }
    view.renameForm = null;
    const key = open ? JSON.stringify([column.title, index, board.columns.length, column.cards.length]) : '';
    if (view.toolsKey === key) return;
    view.toolsKey = key;
    if (!open) {
      setChildren(view.tools);
      return;
    }
    const label = (key) => `${t(key)}: ${columnTitle(column)}`;
    const lastOne = board.columns.length <= 1;
    setChildren(
      view.tools,
      h(
        'div',
        { class: 'tool-group', role: 'group', 'aria-label': `${t('board.column')} ${columnTitle(column)}` },
        h('button', { type: 'button', class: 'secondary', 'data-action': 'rename', 'aria-label': label('board.renameColumn'), onclick: () => this.startColumnRename(column.id) }, t('board.rename')),
        h('button', { type: 'button', class: 'secondary', 'data-action': 'earlier', 'aria-label': label('board.columnEarlier'), disabled: index === 0, onclick: () => this.send({ type: 'column.move', column: column.id, index: index - 1 }) }, `← ${t('board.earlier')}`),
        h('button', { type: 'button', class: 'secondary', 'data-action': 'later', 'aria-label': label('board.columnLater'), disabled: index === board.columns.length - 1, onclick: () => this.send({ type: 'column.move', column: column.id, index: index + 1 }) }, `${t('board.later')} →`),
        h('button', { type: 'button', class: 'secondary danger', 'data-action': 'delete-column', 'aria-label': label('board.deleteColumn'), disabled: column.cards.length > 0 || lastOne, onclick: () => this.removeColumn(column) }, t('form.delete')),
      ),
      column.cards.length > 0 ? h('p', { class: 'hint', text: t('board.emptyFirst') }) : lastOne ? h('p', { class: 'hint', text: t('board.lastColumn') }) : null,
    );
  }

  startColumnRename(columnId) {
    this.renamingColumn = columnId;
    this.render();
    const view = this.columns.get(columnId);
    const input = view && view.tools.querySelector('input');
    if (input) {
      input.focus();
      input.select();
    }
  }

  columnRenameForm(column) {
    const input = h('input', { id: `${this.root.id}-rename-${column.id}`.replace(/[^A-Za-z0-9_-]/g, '_'), value: column.title, maxlength: '40', required: true, autocomplete: 'off' });
    const done = () => {
      this.renamingColumn = null;
      this.render();
      const view = this.columns.get(column.id);
      if (view) view.toggle.focus();
    };
    return h(
      'form',
      {
        class: 'column-rename',
        onsubmit: (event) => {
          event.preventDefault();
          const title = input.value.trim();
          if (!title) return input.focus();
          if (title !== column.title) this.send({ type: 'column.rename', column: column.id, title });
          done();
        },
        onkeydown: (event) => event.key === 'Escape' && done(),
      },
      h('label', { for: input.id, text: t('board.columnName') }),
      input,
      h('div', { class: 'tool-group' }, h('button', { type: 'submit' }, t('form.save')), h('button', { type: 'button', class: 'secondary', onclick: done }, t('form.cancel'))),
    );
  }

  removeColumn(column) {
    if (!window.confirm(t('board.confirmDeleteColumn', { column: columnTitle(column) }))) return;
    this.send({ type: 'column.delete', column: column.id });
    this.openColumn = null;
    this.render();
    if (this.columnInput) this.columnInput.focus();
  }

  cardView(card) {
    let view = this.cards.get(card.id);
    if (view) return view;
    const toolsId = `${this.root.id}-tools-${card.id}`.replace(/[^A-Za-z0-9_-]/g, '_');
    view = { id: card.id, key: '' };
    if (this.editable) {
      view.title = h('button', {
        type: 'button',
        class: 'card-title',
        'aria-expanded': 'false',
        'aria-controls': toolsId,
        'data-card': card.id,
        onclick: () => this.toggleTools(card.id),
      });
      view.grip = h('span', { class: 'grip', 'aria-hidden': 'true', title: t('board.drag'), text: '⠿' });
      view.grip.addEventListener('pointerdown', (event) => this.onPointerDown(event, card.id));
      view.tools = h('div', { class: 'card-tools', id: toolsId, hidden: true });
    } else {
      view.title = h('p', { class: 'card-title' });
    }
    view.notes = h('p', { class: 'card-notes' });
    view.meta = h('p', { class: 'card-meta' });
    view.node = h('li', { class: 'card', 'data-card': card.id }, h('div', { class: 'card-row' }, view.grip || null, view.title), view.notes, view.meta, view.tools || null);
    this.cards.set(card.id, view);
    return view;
  }

  updateCard(view, card, column, index, board, pending) {
    const assignee = card.assignee ? this.names(card.assignee) || 'someone' : null;
    const mine = Boolean(card.assignee) && card.assignee === this.meId;
    const key = JSON.stringify([card.title, card.notes, assignee, column.id, column.title, index, column.cards.length, pending]);
    if (view.key !== key) {
      view.key = key;
      view.node.classList.toggle('pending', pending);
      view.node.dataset.column = column.id;
      view.title.textContent = card.title;
      if (this.editable) view.title.setAttribute('aria-label', `${t('board.cardLabel', { title: card.title, column: columnTitle(column), n: index + 1, count: column.cards.length })}${pending ? ` ${t('board.cardWaiting')}` : ''}`);
      view.notes.textContent = card.notes || '';
      view.notes.hidden = !card.notes;
      view.meta.textContent = [assignee ? (mine ? t('board.youOnIt') : t('board.onIt', { name: assignee })) : '', pending ? t('board.waiting') : ''].filter(Boolean).join(' · ');
      view.meta.hidden = !view.meta.textContent;
    }
    if (!this.editable) return;
    const open = this.openCard === card.id;
    view.title.setAttribute('aria-expanded', open ? 'true' : 'false');
    view.tools.hidden = !open;
    if (this.editing === card.id && open) {
      // Whatever else changes meanwhile, the text being typed stays.
      if (!view.editForm) {
        view.editForm = this.editForm(card);
        view.toolsKey = null;
        setChildren(view.tools, view.editForm);
      }
      return;
    }
    view.editForm = null;
    const people = this.people();
    const toolsKey = open
      ? JSON.stringify([card.id, card.title, card.assignee, column.id, index, column.cards.length, board.columns.map((c) => [c.id, c.title, c.cards.length]), people.map((p) => [p.id, p.name])])
      : '';
    if (view.toolsKey === toolsKey) return;
    view.toolsKey = toolsKey;
    if (!open) {
      setChildren(view.tools);
      return;
    }
    if (card.id.startsWith('pending:')) {
      setChildren(view.tools, h('p', { class: 'hint', text: t('board.pendingCard') }));
      return;
    }
    const label = (text) => `${text}: ${card.title}`;
    const moveButtons = board.columns
      .filter((c) => c.id !== column.id)
      .map((c) =>
        h('button', { type: 'button', class: 'secondary', 'aria-label': label(t('board.moveTo', { column: columnTitle(c) })), 'data-action': `to:${c.id}`, onclick: () => this.move(card.id, c.id, c.cards.length) }, `→ ${columnTitle(c)}`),
      );
    setChildren(
      view.tools,
      h('div', { class: 'tool-group', role: 'group', 'aria-label': t('board.moveToColumn') }, moveButtons),
      h(
        'div',
        { class: 'tool-group', role: 'group', 'aria-label': t('board.orderAndEdit') },
        h('button', { type: 'button', class: 'secondary', 'aria-label': label(t('board.moveUp')), 'data-action': 'up', disabled: index === 0, onclick: () => this.move(card.id, column.id, index - 1) }, `↑ ${t('board.up')}`),
        h('button', { type: 'button', class: 'secondary', 'aria-label': label(t('board.moveDown')), 'data-action': 'down', disabled: index === column.cards.length - 1, onclick: () => this.move(card.id, column.id, index + 1) }, `↓ ${t('board.down')}`),
        h('button', { type: 'button', class: 'secondary', 'aria-label': label(t('form.edit')), 'data-action': 'edit', onclick: () => this.startEdit(card.id) }, t('form.edit')),
        this.meId
          ? h(
              'button',
              { type: 'button', class: 'secondary', 'data-action': 'assign', onclick: () => this.send({ type: 'card.edit', card: card.id, assignee: mine ? null : this.meId }) },
              mine ? t('board.dropIt') : t('board.doIt'),
            )
          : null,
        h('button', { type: 'button', class: 'secondary danger', 'aria-label': label(t('form.delete')), 'data-action': 'delete', onclick: () => this.remove(card) }, t('form.delete')),
      ),
      this.assigneePicker(card, people),
    );
  }

  /** "Who is on it": anyone in the team, or nobody (`card.edit` with `assignee`). */
  assigneePicker(card, people) {
    const id = `${this.root.id}-who-${card.id}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const choices = people.slice();
    // Someone who left the team can still hold a card: keep them in the list so the select tells the truth.
    if (card.assignee && !choices.some((p) => p.id === card.assignee)) choices.push({ id: card.assignee, name: this.names(card.assignee) || t('board.someone') });
    const select = h(
      'select',
      {
        id,
        'data-action': 'assignee',
        onchange: (event) => this.send({ type: 'card.edit', card: card.id, assignee: event.target.value || null }),
      },
      h('option', { value: '', text: t('board.nobodyYet') }),
      choices.map((p) => h('option', { value: p.id, text: p.id === this.meId ? t('chat.meHere', { name: p.name }) : p.name })),
    );
    select.value = card.assignee || '';
    return h('div', { class: 'assignee' }, h('label', { for: id, text: t('board.whoIsOnIt') }), select);
  }

  toggleTools(cardId) {
    this.openCard = this.openCard === cardId ? null : cardId;
    this.editing = null;
    this.render();
    const view = this.cards.get(cardId);
    if (view && this.openCard === cardId) {
      const first = view.tools.querySelector('button:not([disabled])');
      if (first && first.scrollIntoView) view.node.scrollIntoView({ block: 'nearest' });
    }
  }

  startEdit(cardId) {
    this.editing = cardId;
    this.render();
    const view = this.cards.get(cardId);
    const input = view && view.tools.querySelector('input');
    if (input) {
      input.focus();
      input.select();
    }
  }

  editForm(card) {
    const id = `${this.root.id}-edit-${card.id}`;
    const title = h('input', { id: `${id}-title`, value: card.title, maxlength: '140', required: true, autocomplete: 'off' });
    const notes = h('textarea', { id: `${id}-notes`, rows: '2', maxlength: '4000' });
    notes.value = card.notes || '';
    const done = () => {
      this.editing = null;
      this.render();
      const view = this.cards.get(card.id);
      if (view) view.title.focus();
    };
    return h(
      'form',
      {
        class: 'card-edit',
        onsubmit: (event) => {
          event.preventDefault();
          const newTitle = title.value.trim();
          if (!newTitle) return title.focus();
          if (newTitle !== card.title || notes.value !== (card.notes || '')) this.send({ type: 'card.edit', card: card.id, title: newTitle, notes: notes.value });
          done();
        },
        onkeydown: (event) => {
          if (event.key === 'Escape') done();
        },
      },
      h('label', { for: title.id, text: t('form.title') }),
      title,
      h('label', { for: notes.id, text: t('board.notes') }),
      notes,
      h('div', { class: 'tool-group' }, h('button', { type: 'submit' }, t('form.save')), h('button', { type: 'button', class: 'secondary', onclick: done }, t('form.cancel'))),
    );
  }

  remove(card) {
    if (!window.confirm(t('board.confirmDeleteCard', { title: card.title }))) return;
    this.send({ type: 'card.delete', card: card.id });
    this.openCard = null;
    this.render();
    if (this.addInput) this.addInput.focus();
  }

  // ---------------------------------------------------------------- drag and drop (pointer events)

  onPointerDown(event, cardId) {
    if (event.button !== 0 || this.drag || cardId.startsWith('pending:')) return;
    const view = this.cards.get(cardId);
    if (!view) return;
    event.preventDefault();
    try {
      view.grip.setPointerCapture(event.pointerId);
    } catch {
      // capture is a nicety
    }
    const drag = { cardId, view, pointerId: event.pointerId, startX: event.clientX, startY: event.clientY, x: event.clientX, y: event.clientY, active: false };
    const move = (e) => {
      if (e.pointerId !== drag.pointerId) return;
      drag.x = e.clientX;
      drag.y = e.clientY;
      if (!drag.active && Math.hypot(drag.x - drag.startX, drag.y - drag.startY) >= DRAG_THRESHOLD) this.startDrag(drag);
      if (drag.active) {
        e.preventDefault();
        this.dragTo(drag);
      }
    };
    const up = (e) => {
      if (e.pointerId !== drag.pointerId) return;
      this.endDrag(e.type === 'pointerup');
    };
    const key = (e) => {
      if (e.key === 'Escape') this.endDrag(false);
    };
    drag.listeners = [
      ['pointermove', move],
      ['pointerup', up],
      ['pointercancel', up],
      ['keydown', key],
    ];
    for (const [type, fn] of drag.listeners) document.addEventListener(type, fn, { passive: false });
    this.drag = drag;
  }

  startDrag(drag) {
    drag.active = true;
    const rect = drag.view.node.getBoundingClientRect();
    drag.offsetX = drag.startX - rect.left;
    drag.offsetY = drag.startY - rect.top;
    drag.ghost = drag.view.node.cloneNode(true);
    drag.ghost.removeAttribute('data-card');
    drag.ghost.classList.add('drag-ghost');
    drag.ghost.setAttribute('aria-hidden', 'true');
    drag.ghost.style.width = `${rect.width}px`;
    document.body.append(drag.ghost);
    drag.view.node.classList.add('dragging');
    drag.marker = h('li', { class: 'drop-marker', 'aria-hidden': 'true' });
    drag.scroller = scrollParent(this.root);
    this.root.classList.add('drag-active');
    const tick = () => {
      if (this.drag !== drag || !drag.active) return;
      autoScroll(drag.scroller, drag.y);
      drag.frame = requestAnimationFrame(tick);
    };
    drag.frame = requestAnimationFrame(tick);
  }

  dragTo(drag) {
    drag.ghost.style.transform = `translate(${drag.x - drag.offsetX}px, ${drag.y - drag.offsetY}px)`;
    const under = document.elementFromPoint(drag.x, drag.y);
    const columnNode = under && under.closest ? under.closest('.board-column') : null;
    if (!columnNode || !this.root.contains(columnNode)) {
      drag.marker.remove();
      drag.target = null;
      return;
    }
    const list = columnNode.querySelector('.cards');
    const others = [...list.querySelectorAll('.card')].filter((node) => node !== drag.view.node);
    let index = others.findIndex((node) => {
      const r = node.getBoundingClientRect();
      return drag.y < r.top + r.height / 2;
    });
    if (index < 0) index = others.length;
    list.insertBefore(drag.marker, others[index] || null);
    drag.target = { column: columnNode.dataset.column, index };
  }

  endDrag(drop) {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    for (const [type, fn] of drag.listeners) document.removeEventListener(type, fn, { passive: false });
    try {
      drag.view.grip.releasePointerCapture(drag.pointerId);
    } catch {
      // already released
    }
    if (!drag.active) return;
    cancelAnimationFrame(drag.frame);
    drag.ghost.remove();
    drag.marker.remove();
    drag.view.node.classList.remove('dragging');
    this.root.classList.remove('drag-active');
    if (!drop || !drag.target) return;
    const shown = this.shown();
    const from = shown && shown.board.columns.find((c) => c.cards.some((card) => card.id === drag.cardId));
    const at = from ? from.cards.findIndex((card) => card.id === drag.cardId) : -1;
    if (from && from.id === drag.target.column && at === drag.target.index) return;
    this.move(drag.cardId, drag.target.column, drag.target.index);
  }

  cancelDrag() {
    if (this.drag) this.endDrag(false);
  }
}

function scrollParent(node) {
  for (let el = node; el && el !== document.body; el = el.parentElement) {
    const style = getComputedStyle(el);
    if (/(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight) return el;
  }
  return document.scrollingElement || document.documentElement;
}

/** Scrolls the board's scroller while a dragged card is held near its top or bottom edge. */
function autoScroll(scroller, y) {
  const rect = scroller === document.scrollingElement ? { top: 0, bottom: window.innerHeight } : scroller.getBoundingClientRect();
  const edge = 48;
  if (y < rect.top + edge) scroller.scrollTop -= Math.ceil((rect.top + edge - y) / 4);
  else if (y > rect.bottom - edge) scroller.scrollTop += Math.ceil((y - (rect.bottom - edge)) / 4);
}

// ------------------------------------------------------------------ redrawing without losing focus

/**
 * Replaces `container`'s children. If the focus was inside, it goes back to the new element with the
 * same `data-focus` (a button for the same thing), else to `fallback`, so that a list redrawn by a
 * live update does not throw a keyboard user back to the top of the page.
 */
export function replaceKeepingFocus(container, nodes, fallback = null) {
  const active = document.activeElement;
  const had = Boolean(active && active !== container && container.contains(active));
  const key = had && active.dataset ? active.dataset.focus : null;
  let selection = null;
  try {
    if (had && typeof active.selectionStart === 'number') selection = [active.selectionStart, active.selectionEnd];
  } catch {
    // inputs without a selection (checkboxes, ...)
  }
  setChildren(container, ...nodes);
  if (!had) return;
  if (container.contains(active)) {
    // The same element, moved into the new children (an open editor): keep typing where it was.
    if (document.activeElement !== active) {
      active.focus();
      if (selection) active.setSelectionRange(selection[0], selection[1]);
    }
    return;
  }
  const again = key ? container.querySelector(`[data-focus="${CSS.escape(key)}"]`) : null;
  if (again && !again.disabled) again.focus();
  else if (fallback) fallback.focus();
}

// ------------------------------------------------------------------ editing a brief

let editorCount = 0;

/**
 * A form that edits a brief's title and body with `brief.edit`. The edit names the revision it was
 * made on, so an edit made while someone else saved is refused with `conflict` and never silently
 * overwrites their text: the form then reloads the latest text into the fields, says so plainly,
 * and keeps this person's own text beside it to merge from. `latest()` gives the brief as the page
 * holds it now; call `update()` when it changes.
 */
export class BriefEditor {
  constructor({ client, brief, latest, names = () => null, onClose }) {
    this.client = client;
    this.id = brief.id;
    this.base = brief.revision;
    this.latest = latest;
    this.names = names;
    this.onClose = onClose;
    const n = ++editorCount;
    this.title = h('input', { id: `brief-edit-title-${n}`, maxlength: '120', required: true, autocomplete: 'off' });
    this.title.value = brief.title;
    this.titleCy = h('input', { id: `brief-edit-title-cy-${n}`, maxlength: '120', autocomplete: 'off', lang: 'cy' });
    this.titleCy.value = brief.title_cy || '';
    this.body = h('textarea', { id: `brief-edit-body-${n}`, rows: '14', maxlength: '20000', 'aria-describedby': `brief-edit-hint-${n}` });
    this.body.value = brief.body;
    this.message = h('div', { class: 'error', role: 'alert' });
    this.newer = h('p', { class: 'notice', role: 'status' });
    this.mine = h('textarea', { id: `brief-edit-mine-${n}`, rows: '8', readonly: true });
    this.mineBox = h('div', { class: 'mine-box', hidden: true }, h('label', { for: this.mine.id, text: t('brief.mine') }), this.mine);
    this.saveButton = h('button', { type: 'submit' }, t('form.save'));
    const shown = localText(brief.title, brief.title_cy);
    this.node = h(
      'form',
      { class: 'brief-editor card', 'aria-label': t('brief.editNamed', { title: shown.text }), onsubmit: (event) => this.save(event), onkeydown: (event) => event.key === 'Escape' && this.cancel() },
      h('p', { class: 'editing-what', text: t('brief.editing', { revision: brief.revision }) }),
      this.message,
      this.newer,
      h('div', { class: 'field' }, h('label', { for: this.title.id, text: t('form.title') }), this.title),
      h('div', { class: 'field' }, h('label', { for: this.titleCy.id }, t('brief.titleCy'), ' ', h('span', { class: 'optional', text: t('form.optional') })), this.titleCy),
      h(
        'div',
        { class: 'field' },
        h('label', { for: this.body.id, text: t('brief.text') }),
        h('span', { class: 'hint', id: `brief-edit-hint-${n}`, text: t('brief.markdownHint') }),
        this.body,
      ),
      this.mineBox,
      h('div', { class: 'tool-group' }, this.saveButton, h('button', { type: 'button', class: 'secondary', onclick: () => this.cancel() }, t('form.cancel'))),
    );
    this.newer.hidden = true;
    this.message.hidden = true;
  }

  focus() {
    this.title.focus();
  }

  /** The brief changed on the server: warn before saving that this edit is now behind. */
  update() {
    const latest = this.latest();
    if (!latest) return;
    if (latest.revision > this.base) {
      const last = latest.history[latest.history.length - 1];
      this.newer.textContent = t('brief.newer', { name: this.names(last.by) || t('brief.someone'), revision: latest.revision, base: this.base });
      this.newer.hidden = false;
    } else {
      this.newer.hidden = true;
    }
  }

  say(text) {
    this.message.textContent = text;
    this.message.hidden = !text;
  }

  save(event) {
    event.preventDefault();
    const latest = this.latest();
    const title = this.title.value.trim();
    if (!title) {
      this.say(t('brief.needsTitle'));
      return this.title.focus();
    }
    const body = this.body.value;
    const titleCy = this.titleCy.value.trim();
    const welshChanged = titleCy !== ((latest && latest.title_cy) || '').trim();
    if (latest && latest.revision === this.base && title === latest.title.trim() && !welshChanged && body.trim() === latest.body.trim()) {
      this.onClose(false);
      return;
    }
    this.say('');
    this.saveButton.disabled = true;
    this.saveButton.textContent = this.client.status === 'online' ? t('form.saving') : t('form.savingOffline');
    const edit = { type: 'brief.edit', brief: this.id, revision: this.base, title, body };
    if (welshChanged) edit.title_cy = titleCy; // "" removes it
    const entry = this.client.command('briefs', edit);
    entry.done.then(
      () => this.onClose(true),
      (err) => {
        this.saveButton.disabled = false;
        this.saveButton.textContent = t('form.save');
        if (err.code === 'conflict') this.conflict({ title, body });
        else this.say(`${t('brief.notSaved')} ${errorText(err)}`);
      },
    );
  }

  /** Someone saved first: show their latest text in the form and keep ours beside it. */
  conflict(mine) {
    const latest = this.latest();
    this.mine.value = `${mine.title}\n\n${mine.body}`;
    this.mineBox.hidden = false;
    this.newer.hidden = true;
    if (!latest) {
      this.say(t('brief.conflictUnknown'));
      return;
    }
    const last = latest.history[latest.history.length - 1];
    this.say(t('brief.conflict', { name: this.names(last.by) || t('board.someone'), revision: latest.revision, base: this.base }));
    this.base = latest.revision;
    this.title.value = latest.title;
    this.titleCy.value = latest.title_cy || '';
    this.body.value = latest.body;
    this.node.querySelector('.editing-what').textContent = t('brief.editing', { revision: latest.revision });
    this.message.tabIndex = -1;
    this.message.focus();
  }

  cancel() {
    this.onClose(false);
  }
}
