// Requests agents wait on (OpenID CIBA Core 1.0), live on /account, and the passkey
// step-up that approves one. Loaded from /static: the strict Content-Security-Policy
// allows no inline script.
//
// The list polls GET /account/approvals every 2 s while the page is visible (less often
// after errors) and keeps the server-rendered markup in step: new requests are added,
// answered and expired ones removed. Everything an agent sent is set as text
// (textContent, Text nodes, attribute values), never parsed as HTML.
"use strict";

const POLL_MS = 2000;
const MAX_WAIT_MS = 30000;
const ENDPOINT = "/account/approvals";

function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children); // strings become Text nodes
  return node;
}

function hidden(name, value) {
  return el("input", { type: "hidden", name, value });
}

function answerForm(action, label, style, approval, csrf) {
  return el("form", { method: "post", action }, [
    hidden(csrf.field, csrf.token),
    hidden("approval", approval.id),
    el("button", { type: "submit", class: `button ${style}` }, [
      label,
      el("span", { class: "visually-hidden" }, [` the request of ${approval.agent}`]),
    ]),
  ]);
}

function facts(rows) {
  return el(
    "dl",
    { class: "facts compact" },
    rows.map(([label, value]) => el("div", {}, [el("dt", {}, [label]), el("dd", {}, [value])])),
  );
}

function actionItem(action) {
  const children = [el("p", { class: "action-title" }, [action.title])];
  if (action.facts.length) children.push(facts(action.facts.map((f) => [f.label, f.value])));
  return el("li", { class: "action", "data-action-type": action.type }, children);
}

function approvalItem(approval, csrf) {
  const children = [
    el("div", { class: "session-head" }, [
      el("h3", { class: "device" }, [approval.agent]),
      el("span", { class: "badge warn" }, ["Waiting for you"]),
    ]),
  ];
  if (approval.binding_message) {
    children.push(
      el("p", { class: "binding-message" }, [
        "“",
        el("span", { "data-binding-message": "" }, [approval.binding_message]),
        "”",
      ]),
    );
  }
  children.push(el("ul", { class: "actions-list" }, approval.actions.map(actionItem)));
  const expires = el("time", { datetime: approval.expires_at_iso }, [approval.expires_at_text]);
  const rows = approval.scopes.length ? [["Access asked", approval.scopes.join(", ")]] : [];
  children.push(facts([...rows, ["Expires", expires]]));
  children.push(
    el("div", { class: "row-actions" }, [
      answerForm(`${ENDPOINT}/approve`, "Approve", "primary", approval, csrf),
      answerForm(`${ENDPOINT}/deny`, "Deny", "secondary", approval, csrf),
    ]),
  );
  return el(
    "li",
    { class: "session approval", id: `approval-${approval.id}`, "data-approval-id": approval.id },
    children,
  );
}

class LiveApprovals {
  constructor(section) {
    this.section = section;
    this.card = section.querySelector("[data-approvals-card]");
    this.list = section.querySelector("[data-approvals-list]");
    this.status = section.querySelector("[data-approvals-status]");
    this.problem = section.querySelector("[data-approvals-problem]");
    this.csrf = { field: section.dataset.csrfField, token: section.dataset.csrfToken };
    this.title = document.title;
    this.wait = POLL_MS;
    this.timer = null;
    this.busy = false;
    this.stopped = false;
    this.signedOut = 0;
    document.addEventListener("visibilitychange", () => this.schedule(0));
    this.showCount(this.list.children.length);
    this.schedule(POLL_MS);
  }

  schedule(delay) {
    if (this.stopped || this.busy || document.visibilityState !== "visible") return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), delay);
  }

  async poll() {
    this.busy = true;
    try {
      const response = await fetch(ENDPOINT, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        // Once may be another tab winning a cookie refresh at the same moment (its new
        // cookies then serve the next poll); twice in a row is a signed-out browser.
        this.signedOut += 1;
        if (this.signedOut >= 2) this.stop();
        return;
      }
      if (!response.ok) throw new Error(`status ${response.status}`);
      this.sync((await response.json()).approvals);
      this.signedOut = 0;
      this.wait = POLL_MS;
    } catch {
      this.wait = Math.min(this.wait * 2, MAX_WAIT_MS); // offline or a restart: back off
    } finally {
      this.busy = false;
      this.schedule(this.wait);
    }
  }

  stop() {
    this.stopped = true;
    this.problem.textContent = "You have been signed out. Reload the page to sign in again.";
    this.problem.hidden = false;
  }

  sync(approvals) {
    const wanted = new Set(approvals.map((approval) => approval.id));
    for (const item of [...this.list.children]) {
      if (!wanted.has(item.dataset.approvalId)) item.remove();
    }
    const present = new Map([...this.list.children].map((item) => [item.dataset.approvalId, item]));
    const added = [];
    approvals.forEach((approval, index) => {
      let item = present.get(approval.id);
      if (item === undefined) {
        item = approvalItem(approval, this.csrf);
        added.push(approval.agent);
      }
      // Only what is out of place moves, so a focused button keeps its focus.
      if (this.list.children[index] !== item) {
        this.list.insertBefore(item, this.list.children[index] || null);
      }
    });
    if (added.length) this.status.textContent = `New request from ${added.join(", ")}.`;
    this.showCount(approvals.length);
  }

  showCount(count) {
    this.card.hidden = count === 0;
    document.title = count ? `(${count}) ${this.title}` : this.title;
  }
}

// The step-up page: a passkey assertion joins the form, which then posts as usual.
async function approveWithPasskey(form) {
  const response = await fetch(`${ENDPOINT}/passkey-options`, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || "The passkey could not be used.");
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(data.options);
  const credential = await navigator.credentials.get({ publicKey });
  form.append(
    hidden("ceremony", data.ceremony),
    hidden("credential", JSON.stringify(credential.toJSON())),
  );
  HTMLFormElement.prototype.submit.call(form); // no submit event, so no second ceremony
}

function report(form, message) {
  const status = form.querySelector("[data-passkey-status]");
  if (status) status.textContent = message;
}

for (const section of document.querySelectorAll("[data-approvals]")) {
  new LiveApprovals(section);
}
for (const form of document.querySelectorAll("[data-passkey-step-up]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!window.PublicKeyCredential) {
      report(form, "This browser does not support passkeys.");
      return;
    }
    report(form, "Waiting for your passkey…");
    approveWithPasskey(form).catch((error) => report(form, error.message));
  });
  // Rendered disabled: without this script the form would post nothing usable.
  for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = false;
}
