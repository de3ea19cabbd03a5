/*
 * test_units.c -- the server's value parsers (server/units.c) on their own:
 * Prometheus durations, byte sizes with units, integers and listen addresses,
 * including the spellings that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "units.h"

static int64_t dur(const char *s)
{
    int64_t ms = -12345;
    char why[128];
    if (srv_parse_duration(s, &ms, why, sizeof why) != 0)
        return -1;
    return ms;
}

static void test_durations(void **state)
{
    (void)state;
    assert_int_equal(dur("0"), 0);
    assert_int_equal(dur("0s"), 0);
    assert_int_equal(dur("15d"), INT64_C(15) * 86400000);
    assert_int_equal(dur("2h"), 7200000);
    assert_int_equal(dur("30m"), 1800000);
    assert_int_equal(dur("1h30m"), 5400000);
    assert_int_equal(dur("500ms"), 500);
    assert_int_equal(dur("1m500ms"), 60500);
    assert_int_equal(dur("1y"), INT64_C(365) * 86400000);
    assert_int_equal(dur("2w1d"), INT64_C(15) * 86400000);
    /* Refused: empty, no unit, wrong order, repeats, unknown units, signs, spaces. */
    static const char *const bad[] = {"", "15", "30m1h", "1h1h", "1x", "-1h", "1.5h",
                                      "1h ", " 1h", "h", "1ms1s", "99999999999999999999y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dur(bad[i]) != -1)
            fail_msg("duration \"%s\" was accepted", bad[i]);
    char buf[32];
    srv_format_duration(5400000, buf, sizeof buf);
    assert_string_equal(buf, "1h30m");
    srv_format_duration(0, buf, sizeof buf);
    assert_string_equal(buf, "0s");
    srv_format_duration(INT64_C(15) * 86400000, buf, sizeof buf);
    assert_string_equal(buf, "2w1d");
}

static int64_t size(const char *s)
{
    uint64_t v;
    char why[128];
    if (srv_parse_bytes(s, &v, why, sizeof why) != 0)
        return -1;
    return (int64_t)v;
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(size("0"), 0);
    assert_int_equal(size("4096"), 4096);
    assert_int_equal(size("10B"), 10);
    assert_int_equal(size("1KB"), 1024);
    assert_int_equal(size("1KiB"), 1024);
    assert_int_equal(size("512MB"), INT64_C(512) << 20);
    assert_int_equal(size("10GB"), INT64_C(10) << 30);
    assert_int_equal(size("1TB"), INT64_C(1) << 40);
    assert_int_equal(size("2PiB"), INT64_C(2) << 50);
    static const char *const bad[] = {"", "MB", "1 MB", "1mb", "1M", "1XB", "-1", "1.5GB",
                                      "16EB", "1KBB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (size(bad[i]) != -1)
            fail_msg("size \"%s\" was accepted", bad[i]);
}

static void test_uint_and_address(void **state)
{
    (void)state;
    uint64_t v;
    char why[128], host[64];
    uint16_t port;
    assert_int_equal(srv_parse_uint("50000000", &v, why, sizeof why), 0);
    assert_int_equal(v, 50000000);
    assert_int_equal(srv_parse_uint("5e7", &v, why, sizeof why), -1);
    assert_int_equal(srv_parse_uint("18446744073709551616", &v, why, sizeof why), -1);

    assert_int_equal(srv_split_hostport("127.0.0.1:9201", host, sizeof host, &port, why,
                                        sizeof why), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9201);
    assert_int_equal(srv_split_hostport(":0", host, sizeof host, &port, why, sizeof why), 0);
    assert_string_equal(host, "");
    assert_int_equal(port, 0);
    assert_int_equal(srv_split_hostport("[::1]:80", host, sizeof host, &port, why, sizeof why),
                     0);
    assert_string_equal(host, "::1");
    static const char *const bad[] = {"9201", "::1:80", "host:", "host:65536", "[::1]80",
                                      "host:80x", "[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (srv_split_hostport(bad[i], host, sizeof host, &port, why, sizeof why) != -1)
            fail_msg("address \"%s\" was accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_uint_and_address),
    };
    return cmocka_run_group_tests_name("server_units", tests, NULL, NULL);
}
