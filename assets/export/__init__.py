"""Export the devices of a query: .xlsx in the Batch Update template's shape (one workbook per product,
zipped) or one CSV file. Small exports download at once; big ones run as an ExportJob in Celery."""
