package browsertest

import (
	"testing"

	"parley/internal/apptest"
)

// scene is a Parley that looks lived in, for the accessibility checks and
// the screenshots: a few people, rooms with real conversations, unread
// messages. maya is the person in front of the screen; her password is
// "password-maya" (apptest's convention).
type scene struct {
	srv    *apptest.Server
	tokens map[string]string
}

// showRoom is the room the screenshots show.
const showRoom = "design-review"

// showConversation is what was said in showRoom, in order.
var showConversation = []struct{ who, text string }{
	{"sam", "Is the onboarding review still at 10?"},
	{"priya", "Yes, but let's do it here, async. Half the team is travelling."},
	{"lena", "Works for me, I'm on a train until noon."},
	{"priya", "The new mockups are up: https://example.com/files/onboarding-v3"},
	{"priya", "Main change: sign-up is a single step now, and the room list shows unread counts."},
	{"theo", "Looks great. Do we still ask for a display name up front?"},
	{"maya", "We dropped it. A username is enough to start; people can add the rest later."},
	{"maya", "Fewer fields, fewer drop-offs: a third of the testers quit at that step last time."},
	{"sam", "Makes sense. Does the dark theme still follow the system setting?"},
	{"priya", "It does, no toggle needed."},
	{"maya", "Great. Let's aim to ship on Thursday."},
	{"theo", "Works for me. I'll go through the copy this afternoon and leave notes here."},
}

// newScene starts a server and fills it. The sending limit is off only to
// seed quickly.
func newScene(t *testing.T) *scene {
	t.Helper()
	s := &scene{
		srv:    apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off", "--push-contact=mailto:ops@parley.example"}}),
		tokens: map[string]string{},
	}
	for _, name := range []string{"maya", "theo", "priya", "sam", "lena"} {
		s.tokens[name] = s.srv.User(t, name)
	}

	s.say(t, "release-2-4",
		"theo", "Release branch is cut. Please only merge fixes from now on.",
		"sam", "The migration test is flaky on CI, looking into it.",
		"maya", "Thanks. Changelog draft is in the usual place.")
	s.read(t, "maya", "release-2-4")
	s.say(t, "release-2-4",
		"sam", "Found it: a missing index. Fix is up for review.",
		"theo", "Approved. Tagging 2.4.0-rc1 after lunch.",
		"lena", "I'll run the upgrade on the staging server.")

	s.say(t, "lobby",
		"lena", "Welcome to everyone who joined this week!",
		"sam", "Coffee machine on the 3rd floor is fixed, finally.",
		"priya", "Reminder: all-hands on Friday at 4.")
	s.read(t, "maya", "lobby")

	s.say(t, "random",
		"theo", "Anyone up for a lunch walk?",
		"lena", "Yes! Meet at the door at 12:30.")
	s.say(t, "support-desk",
		"lena", "Two tickets about password resets today, both solved.")
	s.say(t, "code-review",
		"sam", "Small one: the retry loop in the uploader, 40 lines.")
	s.say(t, "research-notes",
		"priya", "Interview notes from Tuesday are in the shared folder.")

	for _, m := range showConversation[:len(showConversation)-2] {
		s.post(t, m.who, showRoom, m.text)
	}
	s.read(t, "maya", showRoom)
	for _, m := range showConversation[len(showConversation)-2:] {
		s.post(t, m.who, showRoom, m.text)
	}
	return s
}

func (s *scene) post(t *testing.T, who, room, text string) {
	t.Helper()
	post(t, s.srv, s.tokens[who], room, text)
}

// say posts pairs of author and text.
func (s *scene) say(t *testing.T, room string, pairs ...string) {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		s.post(t, pairs[i], room, pairs[i+1])
	}
}

// read makes who enter room and read it to the end, as the room page does:
// unread counts start from here.
func (s *scene) read(t *testing.T, who, room string) {
	t.Helper()
	c := s.srv.Dial(t, room, apptest.DialOptions{Token: s.tokens[who], Extensions: true})
	defer c.Close()
	c.Send(map[string]string{"command": "fetch_messages"})
	msgs := c.Expect("messages").Messages
	if len(msgs) == 0 {
		t.Fatalf("read %s: no messages", room)
	}
	c.Send(map[string]any{"command": "read", "seq": msgs[len(msgs)-1].Seq})
	// Frames of a socket are handled in order: once this is answered, the
	// read marker is stored.
	c.Send(map[string]string{"command": "fetch_messages"})
	c.Expect("messages")
}

// present opens a socket to room for who, so that the room shows them as
// here, until the test ends.
func (s *scene) present(t *testing.T, who, room string) {
	t.Helper()
	s.srv.Dial(t, room, apptest.DialOptions{Token: s.tokens[who], Extensions: true})
}
