package reliability

import "testing"

// TestReliability runs every scenario in turn (they share the machine's
// two CPUs; run one with -run 'TestReliability/crash'). Each prints its
// figures and a summary line "reliability: NAME: …".
func TestReliability(t *testing.T) {
	for _, sc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"crash_20_SIGKILLs_during_a_stream_lose_and_invent_nothing", testCrash},
		{"reboot_restore_brings_back_every_entry", testReboot},
		{"rotation_of_every_kind_under_load_loses_and_repeats_nothing", testRotation},
		{"firewall_resets_are_healed", testFirewallResets},
		{"storage_faults_keep_the_kernel_blocking_and_the_mirror_whole", testStorage},
		{"hostile_lines_count_only_what_is_well_formed", testHostileLines},
		{"hostile_mirrors_never_block_what_the_policy_refuses", testHostileMirrors},
		{"the_same_log_spelled_differently_is_counted_once", testSpelling},
		{"catch_up_after_downtime_decides_as_scan_does", testCatchUp},
		{"unban_racing_the_daemon_sticks", testBanUnbanRace},
	} {
		t.Run(sc.name, sc.test)
	}
}
