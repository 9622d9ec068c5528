// WhenCanIDoThis? — the little JavaScript the pages need: EventCalendar set-up and the hold
// countdown. Everything else is plain HTML forms (and htmx on the lease page).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The lease calendar (month, week, day); events come from the page's JSON endpoint as
  // wall-clock times in the user's zone, and `timeZone` (the zone's offset now) puts the
  // "now" line and "today" in that zone too rather than in the browser's.
  for (const el of document.querySelectorAll("[data-calendar]")) {
    EventCalendar.create(el, {
      view: window.matchMedia("(max-width: 40rem)").matches ? "timeGridDay" : "dayGridMonth",
      headerToolbar: { start: "prev,next today", center: "title", end: "dayGridMonth,timeGridWeek,timeGridDay" },
      buttonText: { today: "Today", dayGridMonth: "Month", timeGridWeek: "Week", timeGridDay: "Day" },
      date: el.dataset.date,
      timeZone: el.dataset.timeZone || "local",
      eventSources: [{ url: el.dataset.calendar }],
      firstDay: 1,
      height: "auto",
      dayMaxEvents: true,
      nowIndicator: true,
      eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      eventClick: (info) => { window.location.href = info.event.extendedProps.url; },
      eventDidMount: (info) => {
        // Reachable and announced from the keyboard, not only by mouse.
        info.el.setAttribute("role", "link");
        info.el.setAttribute("tabindex", "0");
        info.el.setAttribute("aria-label", info.event.title);
        info.el.title = info.event.title;
        info.el.addEventListener("keydown", (e) => {
          if (e.key === "Enter") window.location.href = info.event.extendedProps.url;
        });
      },
    });
  }

  // The offers (or suggestions) of an offer set on a resource timeline of the site's pools.
  for (const el of document.querySelectorAll("[data-timeline]")) {
    const data = JSON.parse(document.getElementById(el.dataset.timeline).textContent);
    EventCalendar.create(el, {
      view: "offerTimeline",
      views: { offerTimeline: { type: "resourceTimelineDay", duration: { days: data.days } } },
      date: data.date,
      timeZone: data.timeZone || "local",
      scrollTime: data.scrollTime,
      headerToolbar: { start: "", center: "title", end: "" },
      resources: data.resources,
      // The pool's name with its capacity underneath, so the label column stays narrow.
      resourceLabelContent: (info) => {
        const label = document.createElement("span");
        label.className = "pool-label";
        label.append(info.resource.title);
        if (info.resource.extendedProps.capacity) {
          const capacity = document.createElement("small");
          capacity.textContent = info.resource.extendedProps.capacity;
          label.append(capacity);
        }
        return { domNodes: [label] };
      },
      events: data.events,
      slotDuration: data.slotDuration,
      slotWidth: 34,
      height: "auto",
      nowIndicator: true,
      slotLabelFormat: { hour: "2-digit", hour12: false },
      eventContent: (info) => info.event.extendedProps.short || "",
      eventDidMount: (info) => {
        if (info.event.title) {
          info.el.title = info.event.title;
          info.el.setAttribute("aria-label", info.event.title);
        }
      },
    });
  }

  // Booking form: show only the amounts a component's kind can have (all show without JS).
  const kinds = document.getElementById("dimensions-by-kind");
  if (kinds) {
    const dimensions = JSON.parse(kinds.textContent);
    for (const component of document.querySelectorAll("[data-component]")) {
      const kind = component.querySelector("select[name$='-kind']");
      const show = (clear) => {
        for (const amount of component.querySelectorAll(".amount[data-dim]")) {
          const inputs = [...amount.querySelectorAll("input")];
          const relevant = dimensions[kind.value].includes(amount.dataset.dim);
          if (!relevant && clear) inputs.forEach((input) => { input.value = ""; });
          const kept = inputs.some((input) => input.value !== "") || amount.hasAttribute("data-invalid");
          amount.hidden = !relevant && !kept;
        }
      };
      kind.addEventListener("change", () => show(true));
      show(false);
    }
  }

  // After a refused form, start reading (and tabbing) at the list of problems.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // The hold countdown: minutes and seconds left, then a note that the hold has lapsed.
  for (const el of document.querySelectorAll("[data-expires]")) {
    const expires = new Date(el.dataset.expires).getTime();
    const out = el.querySelector(".countdown");
    const tick = () => {
      const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      out.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left === 0) {
        el.querySelector(".lapsed-note").hidden = false;
        clearInterval(timer);
      }
    };
    const timer = setInterval(tick, 1000);
    tick();
  }
});
