package scan

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bailiff/bailiff/pkg/policy"
)

// Formats lists the output formats Write understands.
var Formats = []string{"table", "json", "sarif", "junit"}

// Write renders a report in one of Formats. policies describe the rules (for SARIF).
func Write(w io.Writer, format string, r *Report, policies []policy.Metadata) error {
	switch format {
	case "table":
		return writeTable(w, r)
	case "json":
		return writeJSON(w, r)
	case "sarif":
		return writeSARIF(w, r, policies)
	case "junit":
		return writeJUnit(w, r)
	}
	return fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// writeJSON writes the report as one indented JSON object. The results, most of the
// work with thousands of objects, are encoded on every CPU first.
func writeJSON(w io.Writer, r *Report) error {
	out := struct {
		Results          []json.RawMessage `json:"results"`
		Summary          Summary           `json:"summary"`
		Notes            []string          `json:"notes,omitempty"`
		Errors           []string          `json:"errors,omitempty"`
		PolicySetVersion string            `json:"policySetVersion"`
	}{make([]json.RawMessage, len(r.Results)), r.Summary, r.Notes, r.Errors, r.PolicySetVersion}
	errs := make([]error, len(r.Results))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(r.Results)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(r.Results); i = int(next.Add(1) - 1) {
				out.Results[i], errs[i] = json.Marshal(r.Results[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeTable prints, for each object with something to say, its verdict and every
// finding, then a summary line. Objects that passed untouched are only counted.
func writeTable(w io.Writer, r *Report) error {
	var b strings.Builder
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "ERROR  %s\n", e)
	}
	for _, res := range r.Results {
		if res.Error == "" && len(res.Violations) == 0 && len(res.Patches) == 0 && len(res.Exempted) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%-7s %s %s  (%s)\n", verdict(res), res.Kind, objectName(res), res.Source)
		if res.Error != "" {
			fmt.Fprintf(&b, "  error   %s\n", res.Error)
		}
		for _, v := range res.Violations {
			fmt.Fprintf(&b, "  %-7s %-12s %-8s %s\n", v.Enforcement, v.Policy, v.Severity, v.Message)
			if v.Field != "" {
				fmt.Fprintf(&b, "  %-7s %-12s %-8s at %s\n", "", "", "", v.Field)
			}
		}
		for _, ex := range res.Exempted {
			fmt.Fprintf(&b, "  %-7s %-12s %-8s %s (exempted until %s by %s: %s)\n", "exempt", ex.Violation.Policy, ex.Violation.Severity,
				ex.Violation.Message, ex.Exemption.Expires.Format("2006-01-02"), ex.Exemption.Owner, ex.Exemption.Reason)
		}
		for _, p := range res.Patches {
			fmt.Fprintf(&b, "  %-7s %-12s %-8s %s %s\n", "mutate", p.Policy, "", p.Op, p.Path)
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d objects: %d denied, %d warned, %d passed, %d mutated", s.Objects, s.Denied, s.Warned, s.Passed, s.Mutated)
	if s.Errors > 0 {
		fmt.Fprintf(&b, ", %d errors", s.Errors)
	}
	b.WriteString("\n")
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verdict(r Result) string {
	switch {
	case r.Error != "":
		return "ERROR"
	case r.Denied():
		return "DENIED"
	case r.Warned():
		return "WARNED"
	case len(r.Patches) > 0:
		return "MUTATED"
	}
	return "PASSED"
}

func objectName(r Result) string {
	if r.Namespace != "" {
		return r.Namespace + "/" + r.Name
	}
	return r.Name
}

// SARIF 2.1.0, the format code-scanning dashboards read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription sarifText      `json:"shortDescription"`
	FullDescription  sarifText      `json:"fullDescription"`
	DefaultConfig    sarifLevel     `json:"defaultConfiguration"`
	Properties       map[string]any `json:"properties"`
}

type sarifLevel struct {
	Level string `json:"level"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	Physical sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	Artifact sarifArtifact `json:"artifactLocation"`
	Region   sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

func sarifLevelOf(enforcement string) string {
	switch enforcement {
	case policy.Deny:
		return "error"
	case policy.Warn:
		return "warning"
	}
	return "note"
}

func writeSARIF(w io.Writer, r *Report, policies []policy.Metadata) error {
	driver := sarifDriver{Name: "bailiff", InformationURI: "https://github.com/bailiff/bailiff", Version: r.PolicySetVersion, Rules: []sarifRule{}}
	index := map[string]int{}
	for _, p := range policies {
		index[p.ID] = len(driver.Rules)
		desc := p.Description
		if desc == "" {
			desc = p.Title
		}
		driver.Rules = append(driver.Rules, sarifRule{
			ID: p.ID, Name: p.Package, ShortDescription: sarifText{p.Title}, FullDescription: sarifText{desc},
			DefaultConfig: sarifLevel{sarifLevelOf(p.Enforcement)},
			Properties:    map[string]any{"severity": p.Severity, "controls": orEmpty(p.Controls), "tags": append([]string{"kubernetes", "policy"}, p.Controls...)},
		})
	}
	results := []sarifResult{}
	for _, res := range r.Results {
		file, line := splitSource(res.Source)
		for _, v := range res.Violations {
			i, ok := index[v.Policy]
			if !ok {
				continue
			}
			props := map[string]any{"object": res.Kind + " " + objectName(res), "severity": v.Severity}
			if v.Field != "" {
				props["field"] = v.Field
			}
			results = append(results, sarifResult{
				RuleID: v.Policy, RuleIndex: i, Level: sarifLevelOf(v.Enforcement),
				Message:    sarifText{fmt.Sprintf("%s %s: %s", res.Kind, objectName(res), v.Message)},
				Locations:  []sarifLocation{{Physical: sarifPhysical{Artifact: sarifArtifact{URI: file}, Region: sarifRegion{StartLine: line}}}},
				Properties: props,
			})
		}
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// splitSource splits "file.yaml:12" into its file and line.
func splitSource(source string) (string, int) {
	i := strings.LastIndexByte(source, ':')
	if i < 0 {
		return source, 1
	}
	var line int
	if _, err := fmt.Sscanf(source[i+1:], "%d", &line); err != nil || line < 1 {
		return source, 1
	}
	return source[:i], line
}

// JUnit XML, the format CI systems show as test results: one suite per file, one case
// per object, a failure for each denied object.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

func writeJUnit(w io.Writer, r *Report) error {
	suites := junitSuites{Name: "bailiff scan"}
	byFile := map[string]*junitSuite{}
	var order []string
	suiteFor := func(file string) *junitSuite {
		if s, ok := byFile[file]; ok {
			return s
		}
		byFile[file] = &junitSuite{Name: file}
		order = append(order, file)
		return byFile[file]
	}
	for _, e := range r.Errors {
		file, _ := splitSource(strings.SplitN(e, ": ", 2)[0])
		s := suiteFor(file)
		s.Tests++
		s.Errors++
		s.Cases = append(s.Cases, junitCase{Name: "read " + file, Classname: file, Error: &junitMessage{Message: e, Type: "InputError", Body: e}})
	}
	for _, res := range r.Results {
		file, _ := splitSource(res.Source)
		s := suiteFor(file)
		c := junitCase{Name: fmt.Sprintf("%s %s (%s)", res.Kind, objectName(res), res.Source), Classname: file}
		var denied, other []string
		for _, v := range res.Violations {
			line := fmt.Sprintf("%s %s %s: %s", strings.ToUpper(v.Enforcement), v.Policy, v.Severity, v.Message)
			if v.Enforcement == policy.Deny {
				denied = append(denied, line)
			} else {
				other = append(other, line)
			}
		}
		for _, p := range res.Patches {
			other = append(other, fmt.Sprintf("MUTATE %s %s %s", p.Policy, p.Op, p.Path))
		}
		switch {
		case res.Error != "":
			c.Error = &junitMessage{Message: res.Error, Type: "EvaluationError", Body: res.Error}
			s.Errors++
		case len(denied) > 0:
			c.Failure = &junitMessage{Message: fmt.Sprintf("denied by %d policy violation(s)", len(denied)), Type: "PolicyViolation", Body: strings.Join(denied, "\n")}
			s.Failures++
		}
		c.SystemOut = strings.Join(other, "\n")
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for _, file := range order {
		s := byFile[file]
		suites.Tests += s.Tests
		suites.Failures += s.Failures
		suites.Errors += s.Errors
		suites.Suites = append(suites.Suites, *s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(suites); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// ValidFormat reports whether Write knows the format.
func ValidFormat(format string) bool { return slices.Contains(Formats, format) }
