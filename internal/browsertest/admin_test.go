package browsertest

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// TestAdminUsersPage: an admin finds people on /admin/users/, changes a
// role and deactivates an account with the page's forms, and makes a
// reset link that the page shows once; the page passes axe-core in both
// themes. With PARLEY_SCREENSHOTS set it saves admin-users.png.
func TestAdminUsersPage(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{})
	base := srv.URL
	tokens := map[string]string{}
	for _, name := range []string{"maya", "theo", "priya", "sam", "lena"} {
		tokens[name] = srv.User(t, name) // maya, the first, is the admin
	}
	if r := apptest.Do(t, "PATCH", base+"/api/v1/admin/users/priya", tokens["maya"], map[string]string{"role": "moderator"}, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("set role: %s", r.Status)
	}
	if r := apptest.Do(t, "POST", base+"/api/v1/admin/users/lena/deactivate", tokens["maya"], nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("deactivate: %s", r.Status)
	}

	maya := newBrowser(t, ctx, "maya")
	maya.logIn(base, "maya", "password-maya")
	maya.open(base + "/admin/")
	maya.waitFor("the admin page", `document.body.classList.contains('page-admin')`)
	maya.settle()
	maya.do("open users", chromedp.Click(chromedp.CSS(`a[href="/admin/users/"].admin-link`)))
	maya.waitFor("the users page", `document.body.classList.contains('page-admin_users') && document.querySelectorAll('.admin-table tbody tr').length === 5`)
	maya.screenshot("admin-users.png")
	for _, scheme := range []string{"light", "dark"} {
		maya.theme(scheme)
		maya.settle()
		t.Run("users/"+scheme, func(t *testing.T) { checkAxe(t, maya, axe) })
	}
	maya.theme("light")

	// theo becomes a moderator through the row's form.
	maya.do("pick a role", chromedp.SetValue(chromedp.CSS(`form[action="/admin/users/theo/role/"] select`), "moderator"))
	maya.do("set it", chromedp.Click(chromedp.CSS(`form[action="/admin/users/theo/role/"] button`)))
	maya.waitFor("the notice", `document.querySelector('.flash')?.textContent === 'theo is now moderator.'`)

	// A reset link for sam, shown once, in a box.
	maya.do("reset link", chromedp.Click(chromedp.CSS(`form[action="/admin/users/sam/reset-link/"] button`)))
	maya.waitFor("the reset link", `/\/reset\/[A-Za-z0-9_-]{40,}$/.test(document.getElementById('made-link')?.value || '')`)

	// sam deactivated: the row says so and offers to reactivate.
	maya.do("deactivate", chromedp.Click(chromedp.CSS(`form[action="/admin/users/sam/deactivate/"] button`)))
	maya.waitFor("sam deactivated", `document.querySelector('form[action="/admin/users/sam/reactivate/"]') !== null`)
	maya.checkClean()
}
