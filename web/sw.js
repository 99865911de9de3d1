// ticketlab's service worker: after the first visit the app opens without a network.
// The page and the files it names (the hashed .js and .wasm that Trunk writes) are cached when the worker installs
// and again whenever the page is fetched from the network. The page itself is fetched network-first, so a new
// version is picked up when online; the hashed files never change under one name, so they come from the cache.
const CACHE = 'ticketlab';

// The page and the files it names, cached; cached files it no longer names are dropped.
async function refresh(page) {
  const cache = await caches.open(CACHE);
  const html = await page.clone().text();
  const named = [...new Set(html.match(/\.\/[\w.-]+\.(?:js|wasm|svg|css|png|ico)/g) || [])];
  const wanted = new Set(named.map((path) => new URL(path, self.registration.scope).href));
  await Promise.all(named.map(async (path) => {
    if (!(await cache.match(path))) await cache.add(path);
  }));
  await cache.put(self.registration.scope, page);
  for (const request of await cache.keys()) {
    if (request.url !== self.registration.scope && !wanted.has(request.url)) await cache.delete(request);
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(fetch(self.registration.scope).then(refresh).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || !request.url.startsWith(self.registration.scope)) return;
  if (request.mode === 'navigate') {
    event.respondWith((async () => {
      try {
        const page = await fetch(request);
        if (page.ok) event.waitUntil(refresh(page.clone()));
        return page;
      } catch (offline) {
        return (await caches.match(self.registration.scope)) || Response.error();
      }
    })());
    return;
  }
  event.respondWith(caches.match(request).then((cached) => cached || fetch(request)));
});
