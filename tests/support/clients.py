"""Requests to the API's WSGI apps as a browser would send them."""

import io


def post_image(api, tool, data, ip="203.0.113.7", filename="a.jpg", **headers):
    """POST one image as multipart to /api/<tool> through the test client factory `api`."""
    return api(tool).post(f"/api/{tool}", data={"image": (io.BytesIO(data), filename)},
                          content_type="multipart/form-data", headers={"X-Real-IP": ip, **headers})
