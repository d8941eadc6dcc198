"""Reading back what the counter store holds."""


def dump(client):
    """Every Redis key with its value, as one blob, plus the key set."""
    blob, keys = b"", set()
    for key in client.keys("*"):
        keys.add(key.decode())
        kind = client.type(key).decode()
        value = client.hgetall(key) if kind == "hash" else {b"": client.get(key) or b""} if kind == "string" else {}
        blob += key + b"=" + b";".join(k + b":" + v for k, v in sorted(value.items())) + b"\n"
    return keys, blob
