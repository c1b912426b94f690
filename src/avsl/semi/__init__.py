"""Semi-supervised pieces: pseudo-labels, consensus filtering, EMA, teacher-student steps."""
