"use strict";
// OAuth 2.0 Form Post Response Mode: carry the authorization response to the
// client by submitting the page's only form; without JavaScript the customer
// presses the button instead.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-autosubmit]");
  if (form) {
    form.submit();
  }
});
