"""The id layout of every categorical model input.

`0` is padding (`PAD_ID`: the filler of an id list, never the id of a
value), `1` is out-of-vocabulary (`OOV_ID`: unseen, rare, missing and empty
values), and known values start at `2` (`FIRST_ID`), most frequent first.
Saved encoder files record this layout and are refused if it ever changes.

>>> PAD_ID, OOV_ID, FIRST_ID
(0, 1, 2)
"""

PAD_ID = 0
OOV_ID = 1
FIRST_ID = 2
