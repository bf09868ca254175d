"""Deploy targets (docker host behind nginx, ECS), release records and their settings.

The pipeline that ties them together (deploy, verify, roll back, gc) is :mod:`kwrec.deploying`.
"""
