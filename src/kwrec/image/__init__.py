"""Release images: build context, Dockerfile, wheels and image settings (issue 4)."""
