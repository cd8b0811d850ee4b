-- SHA-256 digests (base64, as in RFC 9530 Content-Digest) that clients declared and the
-- producer verified while streaming, and the digest declared for a whole object.
ALTER TABLE uploads ADD COLUMN sha256 TEXT;
ALTER TABLE parts ADD COLUMN sha256 TEXT;
ALTER TABLE chunks ADD COLUMN sha256 TEXT;
