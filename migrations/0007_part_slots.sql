-- A refused re-send changes nothing (issue 10): each part of a new upload has two R2 part
-- numbers, 2n-1 and 2n. A part is written to the one its accepted copy is not in, and D1 only
-- switches to it once the new copy is verified, so a refused or failed re-send leaves the
-- accepted copy in place. R2 completes with the part numbers it is given, in ascending order,
-- and ignores the parts it is not given.
--
-- Uploads opened before this migration keep one R2 part number per part (part_slots = 1);
-- parts.r2_part NULL means "the part's own number".
ALTER TABLE uploads ADD COLUMN part_slots INTEGER NOT NULL DEFAULT 1;

ALTER TABLE parts ADD COLUMN r2_part INTEGER;
