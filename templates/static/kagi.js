"use strict";
// Kagi's hosted pages work without JavaScript: every form is a plain POST.
// This file adds the passkey ceremonies (WebAuthn Level 3), which need it:
//   - login: #passkey-login[data-passkey="login"] and the browser's autofill
//     on the field with autocomplete="username webauthn";
//   - step-up: #passkey-login[data-passkey="stepup"];
//   - transaction confirmation: #passkey-login[data-passkey="confirm"] with
//     data-request, the stored authorization request it confirms;
//   - registration: #passkey-register-confirm;
//   - the Signal API on the account page (#passkey-signal).
// Options come from the server as JSON with base64url strings; responses go
// back the same way. The CSRF token travels in the X-CSRF-Token header.
(function () {
  var PUBLIC_KEY_CREDENTIAL = window.PublicKeyCredential;

  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(
        function (data) { return { ok: response.ok, data: data }; },
        function () { return { ok: false, data: { error: "failed" } }; }
      );
    });
  }

  // Messages come from the page (data-* of #passkey-messages), in its language.
  function say(name) {
    var messages = document.getElementById("passkey-messages");
    var status = document.getElementById("passkey-status");
    if (!messages || !status) {
      return;
    }
    var text = messages.getAttribute("data-" + name) || messages.getAttribute("data-failed");
    status.textContent = text;
    status.className = name === "working" ? "notice" : "alert";
    status.hidden = false;
  }

  function quiet() {
    var status = document.getElementById("passkey-status");
    if (status) {
      status.hidden = true;
    }
  }

  // What a browser error means for the customer.
  function messageFor(error) {
    if (!error || !error.name) {
      return "failed";
    }
    if (error.name === "NotAllowedError") {
      return "cancelled"; // cancelled, timed out, or no passkey on this device
    }
    if (error.name === "InvalidStateError") {
      return "already-registered";
    }
    if (error.name === "AbortError") {
      return null;
    }
    return "failed";
  }

  function creationOptions(publicKey) {
    publicKey.challenge = toBuffer(publicKey.challenge);
    publicKey.user.id = toBuffer(publicKey.user.id);
    (publicKey.excludeCredentials || []).forEach(function (c) {
      c.id = toBuffer(c.id);
    });
    return publicKey;
  }

  function requestOptions(publicKey) {
    publicKey.challenge = toBuffer(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach(function (c) {
      c.id = toBuffer(c.id);
    });
    return publicKey;
  }

  function extensionResults(credential) {
    var all = credential.getClientExtensionResults ? credential.getClientExtensionResults() : {};
    var kept = {};
    if (all.credProps) {
      kept.credProps = { rk: all.credProps.rk };
    }
    return kept;
  }

  function attestationJson(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toText(response.attestationObject),
        clientDataJSON: toText(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : []
      },
      extensions: extensionResults(credential)
    };
  }

  function assertionJson(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toText(response.authenticatorData),
        clientDataJSON: toText(response.clientDataJSON),
        signature: toText(response.signature),
        userHandle: toText(response.userHandle)
      },
      extensions: {}
    };
  }

  // An answer of the server that is not a success.
  function refused(data) {
    if (data.step_up) {
      window.location.assign(data.step_up);
      return;
    }
    if (data.error === "unknown_credential" && PUBLIC_KEY_CREDENTIAL &&
        PUBLIC_KEY_CREDENTIAL.signalUnknownCredential) {
      // Let the device forget a passkey this site no longer knows (WebAuthn L3 §5.1.10).
      PUBLIC_KEY_CREDENTIAL.signalUnknownCredential({
        rpId: data.rp_id,
        credentialId: data.credential_id
      }).catch(function () {});
    }
    var known = { limit: "limit", expired: "expired", already_registered: "already-registered" };
    say(known[data.error] || "failed");
  }

  // --- Login and step-up ------------------------------------------------------
  var autofill = null; // AbortController of the pending autofill request

  function assert(kind, button, conditional) {
    var bases = { stepup: "/passkey/stepup/", confirm: "/passkey/confirm/" };
    var base = bases[kind] || "/passkey/login/";
    // A transaction confirmation names its stored request (data-request).
    var request = button ? button.getAttribute("data-request") : null;
    var returnTo = button ? button.getAttribute("data-return-to") : null;
    if (!returnTo) {
      var login = document.getElementById("passkey-login");
      returnTo = login ? login.getAttribute("data-return-to") : "/account";
    }
    var controller = conditional ? new AbortController() : null;
    if (conditional) {
      autofill = controller;
    }
    return post(base + "start", { conditional: conditional, request: request }).then(function (start) {
      if (!start.ok) {
        refused(start.data);
        return;
      }
      var options = { publicKey: requestOptions(start.data.options.publicKey) };
      if (conditional) {
        options.mediation = "conditional";
        options.signal = controller.signal;
      } else {
        say("working");
      }
      return navigator.credentials.get(options).then(function (credential) {
        return post(base + "finish", {
          ceremony: start.data.ceremony,
          credential: assertionJson(credential),
          return_to: returnTo,
          request: request
        }).then(function (finish) {
          if (finish.ok && finish.data.redirect) {
            window.location.assign(finish.data.redirect);
          } else {
            refused(finish.data);
          }
        });
      }, function (error) {
        var name = messageFor(error);
        if (name && !conditional) {
          say(name);
        } else if (!name || conditional) {
          quiet();
        }
      });
    }, function () {
      say("failed");
    });
  }

  function setUpAssertion(button) {
    var kind = button.getAttribute("data-passkey");
    if (!PUBLIC_KEY_CREDENTIAL || !navigator.credentials) {
      button.addEventListener("click", function () { say("unsupported"); });
      return;
    }
    button.addEventListener("click", function () {
      if (autofill) {
        autofill.abort(); // one WebAuthn request at a time
        autofill = null;
      }
      assert(kind, button, false);
    });
    var field = document.querySelector('input[autocomplete~="webauthn"]');
    if (kind === "login" && field && PUBLIC_KEY_CREDENTIAL.isConditionalMediationAvailable) {
      PUBLIC_KEY_CREDENTIAL.isConditionalMediationAvailable().then(function (available) {
        if (available) {
          assert("login", button, true);
        }
      }, function () {});
    }
  }

  // --- Registration -----------------------------------------------------------
  function setUpRegistration(button) {
    button.addEventListener("click", function () {
      if (!PUBLIC_KEY_CREDENTIAL || !navigator.credentials) {
        say("unsupported");
        return;
      }
      var returnTo = button.getAttribute("data-return-to") || "/account";
      button.disabled = true;
      post("/account/passkeys/register/start", { return_to: returnTo }).then(function (start) {
        if (!start.ok) {
          refused(start.data);
          return;
        }
        say("working");
        var publicKey = creationOptions(start.data.options.publicKey);
        return navigator.credentials.create({ publicKey: publicKey }).then(function (credential) {
          return post("/account/passkeys/register/finish", {
            ceremony: start.data.ceremony,
            credential: attestationJson(credential),
            return_to: returnTo
          }).then(function (finish) {
            if (finish.ok && finish.data.redirect) {
              window.location.assign(finish.data.redirect);
            } else {
              refused(finish.data);
            }
          });
        }, function (error) {
          say(messageFor(error) || "cancelled");
        });
      }, function () {
        say("failed");
      }).then(function () {
        button.disabled = false;
      });
    });
  }

  // --- Signal API on the account page -----------------------------------------
  function signal(element) {
    if (!PUBLIC_KEY_CREDENTIAL) {
      return;
    }
    var rpId = element.getAttribute("data-rp-id");
    var userId = element.getAttribute("data-user-id");
    var ids = (element.getAttribute("data-credential-ids") || "").split(" ").filter(Boolean);
    if (PUBLIC_KEY_CREDENTIAL.signalAllAcceptedCredentials) {
      PUBLIC_KEY_CREDENTIAL.signalAllAcceptedCredentials({
        rpId: rpId,
        userId: userId,
        allAcceptedCredentialIds: ids
      }).catch(function () {});
    }
    if (element.hasAttribute("data-details") && PUBLIC_KEY_CREDENTIAL.signalCurrentUserDetails) {
      PUBLIC_KEY_CREDENTIAL.signalCurrentUserDetails({
        rpId: rpId,
        userId: userId,
        name: element.getAttribute("data-user-name"),
        displayName: element.getAttribute("data-display-name")
      }).catch(function () {});
    }
  }

  var loginButton = document.getElementById("passkey-login");
  if (loginButton && loginButton.hasAttribute("data-passkey")) {
    setUpAssertion(loginButton);
  }
  var registerButton = document.getElementById("passkey-register-confirm");
  if (registerButton) {
    setUpRegistration(registerButton);
  }
  var signalData = document.getElementById("passkey-signal");
  if (signalData) {
    signal(signalData);
  }
})();
