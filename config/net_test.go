package config

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadNet_refuses_ranges_wider_than_the_hard_limits_naming_the_key(t *testing.T) {
	tests := []struct {
		key, value string
	}{
		{"net-prefix-v4", "15"},
		{"net-prefix-v4", "32"},
		{"net-prefix-v6", "47"},
		{"net-threshold-v4", "1"},
		{"net-threshold-v6", "x"},
		{"net-max-ranges", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, err := load("", func(k string) []string {
				if k == tt.key {
					return []string{tt.value}
				}
				key, _ := lookup(k)
				return key.Default
			})
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tt.key || !strings.Contains(err.Error(), "whole number") {
				t.Fatalf("load with %s = %s: %v, want an *Error naming %s", tt.key, tt.value, err, tt.key)
			}
		})
	}
}
