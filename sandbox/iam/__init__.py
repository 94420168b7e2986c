"""IAM as the sandbox enforces it: every AWS call a Lambda function makes is authorized against its role.

`policy` evaluates identity-based policies the way IAM does; `requests` names, for each operation the
functions call, the IAM action and the resources it acts on; `enforce` puts the two in front of boto3.
"""
