// output-editor.js: the form for what a team made, shared by the room's Made section (a phone, for
// its own team) and the console's Outputs (an organiser, for any team): a title, a description,
// photos, links, who carries it on and what happens next. Photos are taken or chosen on the device,
// made smaller there (longest side 1600 px, JPEG), and uploaded one by one to
// `POST /api/events/{event}/photos` with their progress shown; `output.save` then names them.
//
// It knows nothing of the page around it: the page says how to get a token, whether it is online,
// and what saving does. Typing wins over a live update: once someone has changed the form, a newer
// save by someone else is told, not poured over what they wrote.

import { formatTime, h, setChildren } from './ui.js';

// Every string the form shows, in one place.
const TEXT = {
  title: 'What did you make?',
  titleHint: 'A name for it, such as “Post-it wall of what residents told us”.',
  description: 'Describe it',
  photos: 'Photos',
  photosHint: 'Post-its, sketches, the prototype. They are made smaller on this device before they are sent.',
  addPhotos: 'Add photos',
  noPhotos: 'No photos yet.',
  photoAlt: (n) => `Photo ${n}`,
  removePhoto: (n) => `Remove photo ${n}`,
  uploading: (name) => `Sending ${name}…`,
  notUploaded: (name, why) => `${name} was not sent: ${why}`,
  offline: 'this device is offline. Add it again once you are back online.',
  notAnImage: 'it is not a picture this browser can read.',
  dismiss: 'Dismiss',
  links: 'Links',
  linksHint: 'One a line, starting with https://',
  carriedOnBy: 'Who carries it on?',
  carriedOnByHint: 'One a line: people or organisations.',
  nextSteps: 'What happens next?',
  save: 'Save',
  saving: 'Saving…',
  savingOffline: 'Saving as soon as this device is back online…',
  notSaved: 'Not saved yet.',
  saved: (when, who) => `Saved ${when} by ${who}.`,
  savedMeanwhile: (when, who) => `${who} saved a newer version ${when}. Saving now replaces it with what is here.`,
  needsTitle: 'Give it a title first.',
  badLink: (link) => `“${link}” is not a link: links start with https:// or http://.`,
  pressSave: 'Press Save to keep the photos in the output.',
};

export const PHOTO_LONGEST_SIDE = 1600;
export const PHOTO_QUALITY = 0.85;

/** A picture made at most `PHOTO_LONGEST_SIDE` on its longest side, as a JPEG blob. */
export async function resizePhoto(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw new Error(TEXT.notAnImage);
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
  if (!blob) throw new Error(TEXT.notAnImage);
  return blob;
}

/**
 * Uploads a photo's bytes; resolves to the server's answer ({photo, content_type, bytes}). XHR, not
 * fetch, for its upload progress. Rejects with an Error whose message is the server's, in words.
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
      else reject(new Error((answer && answer.error && answer.error.message) || `the server answered ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error('the connection failed. Try again.'));
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
    const id = (name) => `${idPrefix}-${name}`;
    const field = (name, label, control, hint) =>
      h('div', { class: 'field' }, h('label', { for: id(name), text: label }), hint ? h('span', { class: 'hint', id: id(`${name}-hint`), text: hint }) : null, control);
    this.title = h('input', { id: id('title'), maxlength: '120', autocomplete: 'off', required: true, 'aria-describedby': id('title-hint') });
    this.description = h('textarea', { id: id('description'), rows: '4', maxlength: '10000' });
    this.links = h('textarea', { id: id('links'), rows: '2', maxlength: '10500', spellcheck: 'false', autocapitalize: 'none', 'aria-describedby': id('links-hint') });
    this.carriedOnBy = h('textarea', { id: id('carried'), rows: '2', maxlength: '1700', 'aria-describedby': id('carried-hint') });
    this.nextSteps = h('textarea', { id: id('next'), rows: '3', maxlength: '4000' });
    this.fileInput = h('input', { type: 'file', id: id('files'), accept: 'image/jpeg,image/png,image/webp,image/*', multiple: true, hidden: true, 'aria-hidden': 'true', tabindex: '-1' });
    this.photoList = h('ul', { class: 'photo-list', id: id('photo-list'), 'aria-label': TEXT.photos });
    this.uploadList = h('ul', { class: 'upload-list', id: id('uploads'), 'aria-live': 'polite' });
    this.noPhotos = h('p', { class: 'hint', id: id('no-photos'), text: TEXT.noPhotos });
    this.status = h('p', { class: 'hint output-status', id: id('status'), role: 'status' });
    this.message = h('p', { class: 'error', id: id('message'), role: 'alert' });
    this.saveButton = h('button', { type: 'submit', id: id('save'), text: TEXT.save });
    this.element = h(
      'form',
      { class: 'output-editor', id: id('form'), novalidate: true },
      field('title', TEXT.title, this.title, TEXT.titleHint),
      h(
        'fieldset',
        { class: 'photos-field' },
        h('legend', { text: TEXT.photos }),
        h('p', { class: 'hint', id: id('photos-hint'), text: TEXT.photosHint }),
        this.photoList,
        this.noPhotos,
        this.uploadList,
        h('button', { type: 'button', class: 'secondary', id: id('add-photos'), 'aria-describedby': id('photos-hint'), onclick: () => this.fileInput.click() }, TEXT.addPhotos),
        this.fileInput,
      ),
      field('description', TEXT.description, this.description),
      field('links', TEXT.links, this.links, TEXT.linksHint),
      field('carried', TEXT.carriedOnBy, this.carriedOnBy, TEXT.carriedOnByHint),
      field('next', TEXT.nextSteps, this.nextSteps),
      this.message,
      h('div', { class: 'tool-group' }, this.saveButton),
      this.status,
    );
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
    this.drawPhotos();
    this.show(null);
  }

  /** Shows the output as saved (null: none yet); fills the form unless someone is changing it. */
  show(output) {
    this.saved = output;
    const who = output ? this.nameOf(output.updated_by) || 'someone' : '';
    if (!this.dirty) {
      this.title.value = output ? output.title : '';
      this.description.value = output ? output.description : '';
      this.links.value = output ? output.links.join('\n') : '';
      this.carriedOnBy.value = output ? output.carried_on_by.join('\n') : '';
      this.nextSteps.value = output ? output.next_steps : '';
      this.photos = output ? [...output.photos] : [];
      this.drawPhotos();
      this.status.textContent = output ? TEXT.saved(formatTime(output.updated_at), who) : TEXT.notSaved;
    } else if (output) {
      this.status.textContent = TEXT.savedMeanwhile(formatTime(output.updated_at), who);
    }
  }

  drawPhotos() {
    setChildren(
      this.photoList,
      ...this.photos.map((photo, index) =>
        h(
          'li',
          { class: 'photo', 'data-photo': photo },
          h('img', { src: photoUrl(this.eventId, photo), alt: TEXT.photoAlt(index + 1), loading: 'lazy', width: '96', height: '96' }),
          h('button', { type: 'button', class: 'secondary remove-photo', 'aria-label': TEXT.removePhoto(index + 1), onclick: () => this.removePhoto(photo) }, '✕'),
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
            ? [h('span', { class: 'error', text: TEXT.notUploaded(upload.name, upload.error) }), h('button', { type: 'button', class: 'secondary', onclick: () => (this.uploads.delete(n), this.drawPhotos()) }, TEXT.dismiss)]
            : [h('label', { for: `${this.idPrefix}-progress-${n}`, text: TEXT.uploading(upload.name) }), h('progress', { id: `${this.idPrefix}-progress-${n}`, max: '1', value: String(upload.progress) })],
        ),
      ),
    );
  }

  removePhoto(photo) {
    this.photos = this.photos.filter((p) => p !== photo);
    this.dirty = true;
    this.drawPhotos();
    this.message.textContent = '';
    this.status.textContent = TEXT.pressSave;
  }

  /** Resizes and uploads one picture, showing how far it is; on success it joins the form's photos. */
  async addPhoto(file) {
    const n = this.nextUpload++;
    const upload = { name: file.name || TEXT.photoAlt(n), progress: 0, error: null };
    this.uploads.set(n, upload);
    this.drawPhotos();
    const fail = (why) => {
      upload.error = why;
      this.drawPhotos();
    };
    if (!this.isOnline()) return fail(TEXT.offline);
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
      this.status.textContent = TEXT.pressSave;
    } catch (err) {
      fail(err.message.replace(/\.?$/, '.'));
    }
  }

  async submit() {
    this.message.textContent = '';
    const title = this.title.value.trim();
    if (!title) {
      this.message.textContent = TEXT.needsTitle;
      return this.title.focus();
    }
    const links = lines(this.links.value);
    const bad = links.find((link) => !/^https?:\/\/\S+$/.test(link));
    if (bad) {
      this.message.textContent = TEXT.badLink(bad);
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
    this.status.textContent = this.isOnline() ? TEXT.saving : TEXT.savingOffline;
    try {
      // Typing after this point is new: the saved output may then fill the form again.
      this.dirty = false;
      await this.saveOutput(fields);
    } catch (err) {
      this.dirty = true;
      this.message.textContent = `${err.message}.`.replace(/\.\.$/, '.');
      this.status.textContent = '';
    } finally {
      this.saveButton.disabled = false;
    }
  }
}
