// Package browsertest drives the real parley program from headless Chromium
// (through chromedp) as people use it: signing up through the forms,
// entering rooms, talking in two browser profiles at once, surviving a
// server restart, with the keyboard alone, and checked by axe-core for
// accessibility in both colour themes.
//
// The tests need a browser: PARLEY_TEST_BROWSER names its executable
// (Debian's /usr/bin/chromium); without it they skip. PARLEY_TEST_AXE names
// axe-core's axe.min.js for the accessibility test, and PARLEY_SCREENSHOTS a
// folder (docs/screenshots) where the tests save what the pages look like.
// Nothing here downloads a browser.
package browsertest
