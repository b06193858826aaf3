"use strict";
// Kagi's hosted pages work without JavaScript: every form is a plain POST.
// This file only adds progressive enhancements. The passkey ceremonies
// (login through #passkey-login and browser autofill, registration through
// #passkey-register-confirm) will live here.
