// Package sample shortens long lists for messages: the first few items and
// how many more, so that a message about a million entries stays one line.
package sample

import (
	"fmt"
	"strings"
)

// Shown is how many items List names before it counts the rest.
const Shown = 5

// List joins the first Shown items of s with commas and says how many more
// there are.
func List(s []string) string {
	if len(s) <= Shown {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:Shown], ", ") + fmt.Sprintf(" and %d more", len(s)-Shown)
}
