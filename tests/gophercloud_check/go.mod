module relval.local/simcloudcheck

go 1.22

require github.com/gophercloud/gophercloud/v2 v2.8.0
