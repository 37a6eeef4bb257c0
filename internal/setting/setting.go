// Package setting reports a setting that makes no sense in a form that a
// front end can rename: the library names the Config field at fault, and
// the command line renders the same error with the flag that sets it. No
// package below the command line knows a flag's name.
package setting

import (
	"fmt"
	"strings"
)

// Error is a setting that makes no sense: the field at fault, its value,
// and why. Its Reason may name other fields as {Field}.
type Error struct {
	Field  string // a Config field, e.g. "Memory"
	Value  string // the value given, as the user would write it; may be ""
	Reason string
}

// Invalid returns the Error for field set to value, with the reason
// formatted from format and args. A string value is quoted, an empty one
// left out.
func Invalid(field string, value any, format string, args ...any) *Error {
	v := fmt.Sprint(value)
	if s, ok := value.(string); ok && s != "" {
		v = fmt.Sprintf("%q", s)
	}
	return &Error{Field: field, Value: v, Reason: fmt.Sprintf(format, args...)}
}

// Error says "invalid Field Value: reason", with field names as they are.
func (e *Error) Error() string { return e.Render(nil) }

// Render says e with every field name, its own and those in {braces} in
// its Reason, passed through name; a nil name keeps them as they are.
func (e *Error) Render(name func(field string) string) string {
	if name == nil {
		name = func(f string) string { return f }
	}
	var b strings.Builder
	b.WriteString("invalid ")
	b.WriteString(name(e.Field))
	if e.Value != "" {
		b.WriteByte(' ')
		b.WriteString(e.Value)
	}
	b.WriteString(": ")
	b.WriteString(Names(e.Reason, name))
	return b.String()
}

// Names replaces every {Field} in s with name(Field); a nil name keeps the
// field's name.
func Names(s string, name func(field string) string) string {
	if name == nil {
		name = func(f string) string { return f }
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		j := strings.IndexByte(s[i+1:], '}')
		if i < 0 || j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(name(s[i+1 : i+1+j]))
		s = s[i+2+j:]
	}
}
