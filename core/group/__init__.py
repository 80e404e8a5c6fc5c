"""The group movie night: members, the group pick (Masthoff's aggregation strategies), the vote."""
