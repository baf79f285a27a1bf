"""Reports for instructors: the class report and the similarity report."""
