// The not-found page. On /events/<id> it says which event is missing and checks
// every few seconds whether it was created since (a fan who opened the link
// before the scorer did): then it loads the match page.

const match = /^\/events\/([^/]+)$/.exec(window.location.pathname);
const CHECK_MS = 2000;

if (match) {
  const eventId = decodeURIComponent(match[1]);
  const notice = document.getElementById("notice");
  notice.textContent = `No event called “${eventId}” yet. This page keeps checking and opens it when it is created.`;
  notice.hidden = false;
  const check = async () => {
    try {
      const resp = await fetch(`/api/events/${encodeURIComponent(eventId)}`, {
        headers: { Accept: "application/json" },
      });
      if (resp.ok) {
        window.location.reload();
        return;
      }
    } catch {
      // The server may be restarting: keep checking.
    }
    setTimeout(check, CHECK_MS);
  };
  setTimeout(check, CHECK_MS);
}
