//! Customer journeys in a real headless Chromium (issue: demo and browser
//! tests). Each test starts chromedriver with a fresh profile; on failure the
//! screenshot and page HTML paths are printed.

mod login;
