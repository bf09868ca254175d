"""Release images: the build context and its Dockerfile, and the wheels that go into it."""
