"""Reports: the monthly report's figures (pure functions over database rows) and its XLSX and PDF."""
