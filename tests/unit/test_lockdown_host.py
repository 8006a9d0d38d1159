from localaws.lockdown import host_is_loopback


def test_loopback_hosts_with_any_port():
    for host in ("127.0.0.1", "127.0.0.1:4566", "localhost", "LOCALHOST:1", "[::1]", "[::1]:4566",
                 "ecommerce-orders-raw.localhost:4566"):  # fmt: skip
        assert host_is_loopback(host), host


def test_other_hosts_are_not_loopback():
    for host in ("", "evil.example", "evil.example:4566", "127.0.0.1.evil.example", "localhost.evil.example",
                 "0.0.0.0:4566", "[::2]:4566", "192.168.1.2"):  # fmt: skip
        assert not host_is_loopback(host), host
