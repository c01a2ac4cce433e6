// output-editor.js: the form for what a team made, shared by the room's Made section (a phone, for
// its own team) and the console's Outputs (an organiser, for any team): a title, a description,
// photos, links, who carries it on and what happens next. Photos are taken or chosen on the device,
// made smaller there (longest side 1600 px, JPEG), and uploaded one by one to
// `POST /api/events/{event}/photos` with their progress shown; `output.save` then names them.
//
// It knows nothing of the page around it: the page says how to get a token, whether it is online,
// and what saving does. Its words come from the catalogues (`output.…`) and are drawn again in place
// when the language changes; what the team wrote keeps the event's `lang`. Typing wins over a live update: once someone has changed the form, a newer
// save by someone else is told, not poured over what they wrote.

import { formatTime, h, setChildren } from './ui.js';
import { errorText, eventTextLang, onLanguageChange, t } from './i18n.js';

export const PHOTO_LONGEST_SIDE = 1600;
export const PHOTO_QUALITY = 0.85;

/** A file this browser cannot read as a picture: said in the reader's words (`output.notAnImage`). */
const notAnImage = () => Object.assign(new Error('not an image'), { code: 'not_an_image' });

/** A refusal with its `code` (the server's, or the client's own `network`), as errorText reads it. */
const refusal = (code, message) => Object.assign(new Error(message || code), { code });

/** A picture made at most `PHOTO_LONGEST_SIDE` on its longest side, as a JPEG blob. */
export async function resizePhoto(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw notAnImage();
  }
  const scale = Math.min(1, PHOTO_LONGEST_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff'; // a transparent PNG becomes JPEG on white, not black
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  if (bitmap.close) bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', PHOTO_QUALITY));
  if (!blob) throw notAnImage();
  return blob;
}

/**
 * Uploads a photo's bytes; resolves to the server's answer ({photo, content_type, bytes}). XHR, not
 * fetch, for its upload progress. Rejects with an Error carrying the refusal's `code` (`network` when
 * the connection failed), so that the page says it in the reader's words.
 */
export function uploadPhoto({ eventId, team, token, blob, onProgress = () => {} }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const query = team ? `?team=${encodeURIComponent(team)}` : '';
    xhr.open('POST', `/api/events/${encodeURIComponent(eventId)}/photos${query}`);
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.setRequestHeader('content-type', blob.type || 'application/octet-stream');
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let answer = null;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: said below
      }
      if (xhr.status === 201 && answer && answer.photo) resolve(answer);
      else reject(refusal((answer && answer.error && answer.error.code) || 'unknown', answer && answer.error && answer.error.message));
    };
    xhr.onerror = () => reject(refusal('network'));
    xhr.send(blob);
  });
}

/** The address a photo is shown from (its id is what lets an <img> in). */
export const photoUrl = (eventId, id) => (/^https?:\/\//.test(id) ? id : `/api/events/${encodeURIComponent(eventId)}/photos/${encodeURIComponent(id)}`);

const lines = (text) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);

/**
 * The form. Options: `idPrefix` (unique in the page), `eventId`, `team` (sent with uploads: the
 * console's; a phone's team is its own), `getToken()` (an access token), `isOnline()`,
 * `save(fields)` (returns a promise of the outcome), `nameOf(id)`. `element` is the form;
 * `show(output)` shows the saved output (null: none yet).
 */
export class OutputEditor {
  constructor({ idPrefix, eventId, team = null, getToken, isOnline = () => navigator.onLine, save, nameOf = () => null }) {
    Object.assign(this, { idPrefix, eventId, team, getToken, isOnline, saveOutput: save, nameOf });
    this.dirty = false;
    this.photos = []; // ids, in order
    this.uploads = new Map(); // a number -> {name, progress, error}
    this.nextUpload = 1;
    this.saved = null;
    this.words = []; // [element, attribute or null for its text, key]: drawn again in another language
    this.texts = new Map(); // element -> () => its text now (the status and the message)
    const word = (element, key, attribute = null) => (this.words.push([element, attribute, key]), element);
    const id = (name) => `${idPrefix}-${name}`;
    const field = (name, key, control, hintKey) =>
      h('div', { class: 'field' }, word(h('label', { for: id(name) }), key), hintKey ? word(h('span', { class: 'hint', id: id(`${name}-hint`) }), hintKey) : null, control);
    this.title = h('input', { id: id('title'), maxlength: '120', autocomplete: 'off', required: true, 'aria-describedby': id('title-hint') });
    this.description = h('textarea', { id: id('description'), rows: '4', maxlength: '10000' });
    this.links = h('textarea', { id: id('links'), rows: '2', maxlength: '10500', spellcheck: 'false', autocapitalize: 'none', 'aria-describedby': id('links-hint') });
    this.carriedOnBy = h('textarea', { id: id('carried'), rows: '2', maxlength: '1700', 'aria-describedby': id('carried-hint') });
    this.nextSteps = h('textarea', { id: id('next'), rows: '3', maxlength: '4000' });
    this.fileInput = h('input', { type: 'file', id: id('files'), accept: 'image/jpeg,image/png,image/webp,image/*', multiple: true, hidden: true, 'aria-hidden': 'true', tabindex: '-1' });
    this.photoList = word(h('ul', { class: 'photo-list', id: id('photo-list') }), 'output.photos', 'aria-label');
    this.uploadList = h('ul', { class: 'upload-list', id: id('uploads'), 'aria-live': 'polite' });
    this.noPhotos = word(h('p', { class: 'hint', id: id('no-photos') }), 'output.noPhotos');
    this.status = h('p', { class: 'hint output-status', id: id('status'), role: 'status' });
    this.message = h('p', { class: 'error', id: id('message'), role: 'alert' });
    this.saveButton = word(h('button', { type: 'submit', id: id('save') }), 'output.save');
    this.element = h(
      'form',
      { class: 'output-editor', id: id('form'), novalidate: true },
      field('title', 'output.title', this.title, 'output.titleHint'),
      h(
        'fieldset',
        { class: 'photos-field' },
        word(h('legend'), 'output.photos'),
        word(h('p', { class: 'hint', id: id('photos-hint') }), 'output.photosHint'),
        this.photoList,
        this.noPhotos,
        this.uploadList,
        word(h('button', { type: 'button', class: 'secondary', id: id('add-photos'), 'aria-describedby': id('photos-hint'), onclick: () => this.fileInput.click() }), 'output.addPhotos'),
        this.fileInput,
      ),
      field('description', 'output.description', this.description),
      field('links', 'output.links', this.links, 'output.linksHint'),
      field('carried', 'output.carriedOnBy', this.carriedOnBy, 'output.carriedOnByHint'),
      field('next', 'output.nextSteps', this.nextSteps),
      this.message,
      h('div', { class: 'tool-group' }, this.saveButton),
      this.status,
    );
    // What the team writes is in the event's language (a Welsh page's spelling checker then leaves
    // an English event's words alone, and a screen reader says them right).
    for (const control of [this.title, this.description, this.carriedOnBy, this.nextSteps]) control.dataset.eventText = '';
    this.stopListening = onLanguageChange(() => this.redraw());
    this.element.addEventListener('input', (event) => {
      if (event.target !== this.fileInput) this.dirty = true;
    });
    this.fileInput.addEventListener('change', () => {
      const files = [...this.fileInput.files];
      this.fileInput.value = '';
      for (const file of files) this.addPhoto(file);
    });
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.drawWords();
    this.drawPhotos();
    this.show(null);
  }

  /** Puts `text()` in `element` now, and again whenever the language changes ('' clears it). */
  say(element, text) {
    if (text) this.texts.set(element, text);
    else this.texts.delete(element);
    element.textContent = text ? text() : '';
  }

  drawWords() {
    for (const [element, attribute, key] of this.words) {
      if (attribute) element.setAttribute(attribute, t(key));
      else element.textContent = t(key);
    }
    const lang = eventTextLang();
    for (const control of this.element.querySelectorAll('[data-event-text]')) {
      if (lang) control.setAttribute('lang', lang);
      else control.removeAttribute('lang');
    }
  }

  /** The form in the reader's language now: its labels, the photos' names, the status and message. */
  redraw() {
    this.drawWords();
    this.drawPhotos();
    for (const [element, text] of this.texts) element.textContent = text();
  }

  /** Stops redrawing this form (the page no longer shows it). */
  close() {
    this.stopListening();
  }

  /** Shows the output as saved (null: none yet); fills the form unless someone is changing it. */
  show(output) {
    this.saved = output;
    const who = () => (output && this.nameOf(output.updated_by)) || t('output.someone');
    if (!this.dirty) {
      this.title.value = output ? output.title : '';
      this.description.value = output ? output.description : '';
      this.links.value = output ? output.links.join('\n') : '';
      this.carriedOnBy.value = output ? output.carried_on_by.join('\n') : '';
      this.nextSteps.value = output ? output.next_steps : '';
      this.photos = output ? [...output.photos] : [];
      this.drawPhotos();
      this.say(this.status, output ? () => t('output.saved', { when: formatTime(output.updated_at), who: who() }) : () => t('output.notSaved'));
    } else if (output) {
      this.say(this.status, () => t('output.savedMeanwhile', { when: formatTime(output.updated_at), who: who() }));
    }
  }

  drawPhotos() {
    setChildren(
      this.photoList,
      ...this.photos.map((photo, index) =>
        h(
          'li',
          { class: 'photo', 'data-photo': photo },
          h('img', { src: photoUrl(this.eventId, photo), alt: t('output.photoAlt', { n: index + 1 }), loading: 'lazy', width: '96', height: '96' }),
          h('button', { type: 'button', class: 'secondary remove-photo', 'aria-label': t('output.removePhoto', { n: index + 1 }), onclick: () => this.removePhoto(photo) }, '✕'),
        ),
      ),
    );
    this.noPhotos.hidden = this.photos.length > 0 || this.uploads.size > 0;
    setChildren(
      this.uploadList,
      ...[...this.uploads.entries()].map(([n, upload]) =>
        h(
          'li',
          { class: upload.error ? 'upload failed' : 'upload', 'data-upload': String(n) },
          upload.error
            ? [h('span', { class: 'error', text: t('output.notUploaded', { name: upload.name || t('output.photoAlt', { n }), why: upload.error() }) }), h('button', { type: 'button', class: 'secondary', onclick: () => (this.uploads.delete(n), this.drawPhotos()) }, t('output.dismiss'))]
            : [h('label', { for: `${this.idPrefix}-progress-${n}`, text: t('output.uploading', { name: upload.name || t('output.photoAlt', { n }) }) }), h('progress', { id: `${this.idPrefix}-progress-${n}`, max: '1', value: String(upload.progress) })],
        ),
      ),
    );
  }

  removePhoto(photo) {
    this.photos = this.photos.filter((p) => p !== photo);
    this.dirty = true;
    this.drawPhotos();
    this.say(this.message, null);
    this.say(this.status, () => t('output.pressSave'));
  }

  /** Resizes and uploads one picture, showing how far it is; on success it joins the form's photos. */
  async addPhoto(file) {
    const n = this.nextUpload++;
    const upload = { name: file.name, progress: 0, error: null }; // error: () => why, in the reader's words
    this.uploads.set(n, upload);
    this.drawPhotos();
    const fail = (why) => {
      upload.error = why;
      this.drawPhotos();
    };
    if (!this.isOnline()) return fail(() => t('output.offline'));
    try {
      const blob = await resizePhoto(file);
      const token = await this.getToken();
      const answer = await uploadPhoto({
        eventId: this.eventId,
        team: this.team,
        token,
        blob,
        onProgress: (progress) => {
          upload.progress = progress;
          const bar = document.getElementById(`${this.idPrefix}-progress-${n}`);
          if (bar) bar.value = progress;
        },
      });
      this.uploads.delete(n);
      this.photos.push(answer.photo);
      this.dirty = true;
      this.drawPhotos();
      this.say(this.status, () => t('output.pressSave'));
    } catch (err) {
      fail(err.code === 'not_an_image' ? () => t('output.notAnImage') : () => errorText(err));
    }
  }

  async submit() {
    this.say(this.message, null);
    const title = this.title.value.trim();
    if (!title) {
      this.say(this.message, () => t('output.needsTitle'));
      return this.title.focus();
    }
    const links = lines(this.links.value);
    const bad = links.find((link) => !/^https?:\/\/\S+$/.test(link));
    if (bad) {
      this.say(this.message, () => t('output.badLink', { link: bad }));
      return this.links.focus();
    }
    const fields = {
      title,
      description: this.description.value.trim(),
      links,
      photos: [...this.photos],
      carried_on_by: lines(this.carriedOnBy.value),
      next_steps: this.nextSteps.value.trim(),
    };
    this.saveButton.disabled = true;
    this.say(this.status, this.isOnline() ? () => t('output.saving') : () => t('output.savingOffline'));
    try {
      // Typing after this point is new: the saved output may then fill the form again.
      this.dirty = false;
      await this.saveOutput(fields);
    } catch (err) {
      this.dirty = true;
      this.say(this.message, () => `${t('output.saveFailed')} ${errorText(err)}`);
      this.say(this.status, null);
    } finally {
      this.saveButton.disabled = false;
    }
  }
}
