// sw.js: the service worker. It keeps every page, script, style and icon of this build in one
// cache, so that a phone which reloads with no network (venue wifi gone, a tunnel between rooms)
// still opens the room, which then shows what it last saw (room/saved.js) and the outbox waiting to
// go (makeroom.js keeps it in IndexedDB, database "makeroom", store "outbox").
//
// The server puts this build's line first: `self.MAKEROOM_BUILD = {version, files}`, the version
// taken from every file's contents. A new binary is therefore a new worker: it fills a cache of its
// own, takes over at once and deletes the caches of older builds, so a phone never mixes two builds'
// files. It never answers for the API or the WebSocket: live data always comes from the server.

const { version, files } = self.MAKEROOM_BUILD;
const CACHE = `makeroom-${version}`;
const KEPT = new Set(files);

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      // `no-cache`: ask the server (a 304 when unchanged), never take the browser's HTTP cache on trust.
      .then((cache) => cache.addAll(files.map((url) => new Request(url, { cache: 'no-cache' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith('makeroom-') && name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

// A page that opened while this worker was installing asks to be taken over (see ui.js).
self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'claim') event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !KEPT.has(url.pathname)) return;
  event.respondWith(kept(request, url.pathname));
});

/** This build's copy of a file (`/room?event=…` is `/room`); the network only if the copy is missing. */
async function kept(request, path) {
  const cache = await caches.open(CACHE);
  const copy = await cache.match(path, { ignoreVary: true });
  if (copy) return copy;
  const response = await fetch(request);
  if (response.ok) cache.put(path, response.clone());
  return response;
}
