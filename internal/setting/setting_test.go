package setting

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRenderNamesEveryField(t *testing.T) {
	e := Invalid("TransactionTimeout", 5*time.Second, "must be at least %s, {SessionTimeout} plus 2s", "12s")
	if got, want := e.Error(), "invalid TransactionTimeout 5s: must be at least 12s, SessionTimeout plus 2s"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	flags := func(f string) string { return "--" + strings.ToLower(f) }
	if got, want := e.Render(flags), "invalid --transactiontimeout 5s: must be at least 12s, --sessiontimeout plus 2s"; got != want {
		t.Fatalf("Render = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("start: %w", e)
	var se *Error
	if !errors.As(wrapped, &se) || se != e {
		t.Fatal("errors.As does not find the Error in a chain")
	}
	if got := Invalid("Topic", "", "must not be empty").Error(); got != "invalid Topic: must not be empty" {
		t.Fatalf("no value: %q", got)
	}
	if got := Invalid("Mode", "fast mode", "no").Error(); got != `invalid Mode "fast mode": no` {
		t.Fatalf("a string value: %q", got)
	}
	if got := Names("a {B} c {unclosed", flags); got != "a --b c {unclosed" {
		t.Fatalf("Names = %q", got)
	}
}
