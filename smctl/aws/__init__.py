"""The only boto3 users: sessions and errors, S3, ECR."""
