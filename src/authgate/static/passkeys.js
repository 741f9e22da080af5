// Passkeys on the sign-in and account pages (WebAuthn Level 3 JSON helpers).
// Loaded from /static so the strict Content-Security-Policy needs no inline script.
// Every request is a same-origin form POST carrying the page's CSRF field.
"use strict";

function formBody(form, extra) {
  const body = new URLSearchParams(new FormData(form));
  for (const [name, value] of Object.entries(extra)) body.set(name, value);
  return body;
}

async function post(url, body) {
  const response = await fetch(url, { method: "POST", body, credentials: "same-origin" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || "The passkey could not be used.");
  return data;
}

function report(form, message) {
  const status = form.querySelector("[data-passkey-status]");
  if (status) status.textContent = message;
}

async function signIn(form) {
  const { ceremony, options } = await post("/login/passkey/options", formBody(form, {}));
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  const credential = await navigator.credentials.get({ publicKey });
  const done = await post(
    "/login/passkey",
    formBody(form, { ceremony, credential: JSON.stringify(credential.toJSON()) }),
  );
  window.location.assign(done.redirect);
}

async function add(form) {
  const options = await post("/account/passkeys/options", formBody(form, {}));
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
  const credential = await navigator.credentials.create({ publicKey });
  await post(
    "/account/passkeys/add",
    formBody(form, { credential: JSON.stringify(credential.toJSON()) }),
  );
  window.location.assign("/account?notice=passkey_added");
}

for (const [selector, action] of [["[data-passkey-login]", signIn], ["[data-passkey-add]", add]]) {
  for (const form of document.querySelectorAll(selector)) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!window.PublicKeyCredential) {
        report(form, "This browser does not support passkeys.");
        return;
      }
      report(form, "Waiting for your passkey…");
      action(form).catch((error) => report(form, error.message));
    });
    // Rendered disabled: without this script the form would post nothing usable.
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = false;
  }
}
