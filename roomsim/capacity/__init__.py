"""`roomsim capacity`: the search for the largest room that still passes the quality gate."""
