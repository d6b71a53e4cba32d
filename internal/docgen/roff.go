package docgen

import (
	"strings"
)

// roff builds a manual page in the man macros.
type roff struct{ b strings.Builder }

// esc makes text safe to put on a roff text line: backslashes and hyphens
// (which man renders as minus signs only when escaped) are escaped, and a
// line that would begin with a control character gets a zero-width escape.
func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

func (r *roff) macro(name string, args ...string) {
	r.b.WriteString("." + name)
	for _, a := range args {
		r.b.WriteString(` "` + strings.ReplaceAll(esc(a), `"`, `\(dq`) + `"`)
	}
	r.b.WriteString("\n")
}

// text writes a line of running text.
func (r *roff) text(s string) { r.b.WriteString(esc(s) + "\n") }

// raw writes roff as it is.
func (r *roff) raw(s string) { r.b.WriteString(s + "\n") }

// prose writes a help text: paragraphs separated by blank lines, and lines
// indented by spaces (the examples in the commands' descriptions) kept as
// they are, unfilled.
func (r *roff) prose(s string) {
	for _, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		r.raw(".PP")
		inCode := false
		for _, l := range strings.Split(para, "\n") {
			code := strings.HasPrefix(l, " ")
			switch {
			case code && !inCode:
				r.raw(".RS 4\n.nf")
			case !code && inCode:
				r.raw(".fi\n.RE")
			}
			inCode = code
			if code {
				l = strings.TrimSpace(l)
			}
			r.text(l)
		}
		if inCode {
			r.raw(".fi\n.RE")
		}
	}
}

// option writes a tagged paragraph for a flag: its names and value, then the
// text.
func (r *roff) option(f flagInfo, text string) {
	var names []string
	for _, n := range f.names {
		if len(n) == 1 {
			names = append(names, `\fB\-`+esc(n)+`\fR`)
		} else {
			names = append(names, `\fB\-\-`+esc(n)+`\fR`)
		}
	}
	tag := strings.Join(names, ", ")
	if f.placeholder != "" {
		tag += ` \fI` + esc(f.placeholder) + `\fR`
	}
	r.raw(".TP\n" + tag)
	r.text(text)
}
