"""TLS on the hop that leaves the host: the collector serves HTTPS with a
certificate the test makes with openssl; the agent verifies it against a
configured CA and ships; with the wrong CA it refuses to ship and keeps
every event."""
import ssl
import urllib.error
import urllib.request

from harness import Agent, Collector, Suite, make_ca_and_cert, wait_until

s = Suite("tls")


def https_collector(t):
    ca, cert, key = make_ca_and_cert(t.tmp, "good")
    env = {"TALLY_TLS_CERT_FILE": cert, "TALLY_TLS_KEY_FILE": key}
    col = Collector(t, env=env, https_ca=ca)
    return col, ca


@s.test
def agent_ships_over_verified_https(t):
    col, ca = https_collector(t)
    assert col.url.startswith("https://")
    # A plain client with the CA sees Lago's 401 over TLS.
    ctx = ssl.create_default_context(cafile=ca)
    req = urllib.request.Request(col.url + "/api/v1/customers")
    try:
        urllib.request.urlopen(req, context=ctx)
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as e:
        assert e.code == 401
    ag = Agent(t, col, env={"TALLY_SHIP_CA_FILE": ca})
    events = [{"transaction_id": "t-%d" % i, "external_subscription_id": "s",
               "code": "x", "timestamp": 1764000000} for i in range(200)]
    assert ag.post(events)[0] == 200
    ag.drained()
    assert ag.status()["connected"] is True


@s.test
def wrong_ca_is_refused(t):
    col, _ = https_collector(t)
    other_ca, _, _ = make_ca_and_cert(t.tmp, "other")
    ag = Agent(t, col, env={"TALLY_SHIP_CA_FILE": other_ca})
    assert ag.post([{"transaction_id": "w-1", "external_subscription_id": "s",
                     "code": "x"}])[0] == 200
    wait_until(lambda: ag.status()["ship_failures"] >= 2, what="failed TLS handshakes")
    st = ag.status()
    assert st["connected"] is False and st["buffered_events"] == 1, st
    assert "certificate" in st["last_error"].lower() or "ssl" in st["last_error"].lower(), st


if __name__ == "__main__":
    s.main()
