package mapping

import (
	"errors"
	"fmt"
	"strings"

	"github.com/buger/jsonparser"
)

// Account is one Refersion account as routing sees it: the values of the
// route field that select it, whether it catches the rest, and the prefix
// its order ids get.
type Account struct {
	Name        string
	Select      []string
	Default     bool
	OrderPrefix string
}

// Router chooses the account of an order or cancel event by one field of
// the event (several Refersion accounts fed by one stream). It is immutable
// and safe for concurrent use.
type Router struct {
	field    string
	path     []string
	selected map[string]*Account
	def      *Account
	accounts []Account
}

// NewRouter returns a router on field (a dotted JSON path such as
// context.groupId) over accounts. Names must be unique and not empty, a value
// selects at most one account, and at most one account is the default.
func NewRouter(field string, accounts []Account) (*Router, error) {
	r := &Router{field: field, selected: map[string]*Account{}, accounts: append([]Account(nil), accounts...)}
	var errs []error
	if field == "" || strings.Contains(field, "..") || strings.HasPrefix(field, ".") || strings.HasSuffix(field, ".") {
		errs = append(errs, fmt.Errorf("route field %q: want a dotted JSON path such as context.groupId", field))
	}
	r.path = strings.Split(field, ".")
	names := map[string]bool{}
	for i := range r.accounts {
		a := &r.accounts[i]
		if a.Name == "" {
			errs = append(errs, fmt.Errorf("account %d has no name", i+1))
		} else if names[a.Name] {
			errs = append(errs, fmt.Errorf("account %s is named twice", a.Name))
		}
		names[a.Name] = true
		for _, v := range a.Select {
			if other, ok := r.selected[v]; ok {
				errs = append(errs, fmt.Errorf("value %q selects both account %s and account %s", v, other.Name, a.Name))
				continue
			}
			r.selected[v] = a
		}
		if a.Default {
			if r.def != nil {
				errs = append(errs, fmt.Errorf("accounts %s and %s are both the default", r.def.Name, a.Name))
			}
			r.def = a
		}
	}
	if len(r.accounts) == 0 {
		errs = append(errs, errors.New("no accounts"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Field is the route field's path.
func (r *Router) Field() string { return r.field }

// Accounts returns the accounts, in the order given.
func (r *Router) Accounts() []Account { return r.accounts }

// Route returns the account of ev: the one the route field's value selects,
// else the default account. ok is false when neither exists; value is the
// field's value as read ("" when the field is absent or not a string or a
// number: a number compares by its JSON text).
func (r *Router) Route(ev []byte) (a *Account, value string, ok bool) {
	raw, vt, _, err := jsonparser.Get(ev, r.path...)
	if err == nil {
		switch vt {
		case jsonparser.String:
			if s, err := jsonparser.ParseString(raw); err == nil {
				value = s
			}
		case jsonparser.Number:
			value = string(raw)
		}
	}
	if a, ok := r.selected[value]; ok && value != "" {
		return a, value, true
	}
	return r.def, value, r.def != nil
}

// NoAccountProblem is the problem of an event that no account takes: its
// route field's value, and the fix.
func (r *Router) NoAccountProblem(value string) Problem {
	if value == "" {
		return Problem{Field: r.field, Reason: "absent or empty: no account is selected and there is no default account; add the field to the event, or a default account to ACCOUNTS_FILE"}
	}
	return Problem{Field: r.field, Reason: fmt.Sprintf("%q selects no account and there is no default account; add it to an account's select list in ACCOUNTS_FILE, or add a default account", value)}
}
